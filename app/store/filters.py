"""Auth filters (what ``@auth.on`` handlers return) as SQL over a ``metadata`` jsonb column.

A filter dict is a conjunction over metadata keys (``langgraph_sdk.auth.types.FilterType``):

- ``{"owner": "u1"}`` or ``{"owner": {"$eq": "u1"}}``: ``metadata.owner`` equals ``"u1"``;
- ``{"members": {"$contains": "u1"}}``: the array ``metadata.members`` holds ``"u1"``;
- ``{"members": {"$contains": ["u1", "u2"]}}``: it holds both.

All of these are one jsonb containment: ``metadata @> {"owner": "u1", "members": ["u1"]}``
(containment of a scalar is equality, of an array is membership), so every query that takes a
filter adds ``AND <table>.metadata @> %(auth_filter)s`` (``{}`` when there is none: always true)
and Postgres can use the GIN index on ``metadata``. ``$eq`` takes a scalar (string, number,
boolean, null): containment of an object or array would not be equality.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import sql

from app.errors import ConfigurationError
from app.store.db import Database, jsonb

OPERATORS = ("$eq", "$contains")
# the tables whose rows carry auth metadata, and their id column
TABLES = {
    "threads": "thread_id",
    "assistants": "assistant_id",
    "crons": "cron_id",
}


def containment(filters: dict[str, Any] | None) -> dict[str, Any]:
    """The jsonb document a row's ``metadata`` must contain to pass ``filters`` (``{}``: none).

    Raises:
        ConfigurationError: an unknown operator or a non-scalar ``$eq`` (a handler's bug).
    """
    document: dict[str, Any] = {}
    for key, condition in (filters or {}).items():
        if isinstance(condition, dict):
            unknown = [op for op in condition if op not in OPERATORS]
            if unknown or len(condition) != 1:
                raise ConfigurationError(
                    f"auth filter on {key!r}: expected one of {OPERATORS}, got {list(condition)}"
                )
            op, operand = next(iter(condition.items()))
            if op == "$contains":
                document[key] = list(operand) if isinstance(operand, list | tuple) else [operand]
                continue
            condition = operand
        if isinstance(condition, dict | list | tuple):
            raise ConfigurationError(f"auth filter on {key!r}: $eq takes a scalar value")
        document[key] = condition
    return document


def param(filters: dict[str, Any] | None) -> Any:
    """The ``%(auth_filter)s`` parameter of a query for ``filters``."""
    return jsonb(containment(filters))


def visible(db: Database, table: str, row_id: uuid.UUID, filters: dict[str, Any] | None) -> bool:
    """Whether the row ``row_id`` of ``table`` (a key of ``TABLES``) exists and passes
    ``filters`` (no filter: it exists)."""
    query = sql.SQL("SELECT 1 FROM {table} WHERE {id} = %(id)s AND metadata @> %(auth_filter)s")
    statement = query.format(table=sql.Identifier(table), id=sql.Identifier(TABLES[table]))

    def work(conn: Any) -> bool:
        params = {"id": row_id, "auth_filter": param(filters)}
        return conn.execute(statement, params).fetchone() is not None

    return db.run(work, f"visible_{table}")
