"""``langgraph.json`` ``store.index``: semantic search of the store through LangGraph's
``PostgresStore`` index.

``{"store": {"index": {"dims": 1536, "embed": "./embed.py:embed", "fields": ["$"]}}}``: ``embed``
is the path of a function (or a ``langchain_core`` ``Embeddings`` object) that turns a list of
texts into a list of ``dims``-long float vectors; ``fields`` are the JSON paths of an item's value
that are embedded (LangGraph's ``IndexConfig``). The vectors live in LangGraph's
``store_vectors`` table, which needs the PostgreSQL extension ``vector`` (pgvector):
``require_vector_extension`` stops start-up with a message naming it when the server lacks it.
Debian 12's package sources have no pgvector for PostgreSQL 15, and PyPI carries only its client
(the ``pgvector`` Python package) or whole servers with it (``pgserver``: PostgreSQL 16), so on
such a machine ``store.index`` is refused at start-up; tests/acceptance/test_store_index.py runs
the working path on ``pgserver``'s PostgreSQL 16 with pgvector.
"""

from __future__ import annotations

from typing import Any

import psycopg

from app.deployment import Deployment
from app.errors import ConfigurationError

EXTENSION = "vector"


def index_config(deployment: Deployment | None) -> dict[str, Any] | None:
    """LangGraph's ``IndexConfig`` (``dims``, ``embed``: the loaded function, ``fields``) for
    the deployment's ``store.index``, or None when it has none.

    Raises:
        GraphLoadError: the embedding function cannot be imported.
        ConfigurationError: what ``embed`` names is not callable.
    """
    if deployment is None or deployment.store_index is None:
        return None
    from app.graphs import import_object

    spec = deployment.store_index
    embed = import_object(spec["embed"], deployment.base)
    if not callable(embed) and not hasattr(embed, "embed_documents"):
        raise ConfigurationError(
            f"store.index.embed {spec['embed']!r} is a {type(embed).__name__}, not a function "
            "or an Embeddings object"
        )
    return {"dims": spec["dims"], "embed": embed, "fields": spec["fields"]}


def require_vector_extension(database_url: str, config_path: str = "langgraph.json") -> None:
    """Check that Postgres can give the store its vector index (``CREATE EXTENSION vector``).

    Raises:
        ConfigurationError: the extension is neither installed in the database nor available on
            the server; the message names it and how to proceed.
    """
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT name FROM pg_available_extensions WHERE name = %s", (EXTENSION,)
        ).fetchone()
        version = conn.execute("SHOW server_version").fetchone()
    if row is None:
        server = version[0] if version else "?"
        raise ConfigurationError(
            f'store.index in {config_path} needs the PostgreSQL extension "{EXTENSION}" '
            f"(pgvector), which this server (PostgreSQL {server}) does not have: install it "
            f"(e.g. the postgresql-<major>-pgvector package, or a managed Postgres with pgvector) "
            f"or remove store.index"
        )
