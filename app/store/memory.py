"""The long-term memory store: LangGraph's ``PostgresStore`` (table ``store``, created with the
schema by ``migrations``) as the web process reaches it. Graphs reach the same table at run time
through the worker's ``AsyncPostgresStore`` (``workers/executor.py``: the ``store`` parameter of
a node, or ``langgraph.config.get_store()``).

- Items are ``{namespace: tuple of labels, key, value: JSON object}``; labels are non-empty and
  contain no ``.`` (LangGraph's rule; the API joins them with ``.`` in query strings).
- TTL: an item put with ``ttl`` (minutes) expires then. Reads here leave expired items out at
  once (``omit_expired``); the sweeper deletes them (``delete_expired``). A read refreshes the
  TTL of what it returns unless told not to (LangGraph's ``refresh_on_read``); LangGraph keeps
  ``ttl_minutes`` in whole minutes for that refresh.
- Search by ``query`` needs a vector index (``langgraph.json`` ``store.index``:
  ``app.store.vectors``); without one the query is ignored and items come newest first
  (``updated_at``), filtered by ``filter`` (LangGraph's behaviour without an index).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

import psycopg
from langgraph.store.base import InvalidNamespaceError, TTLConfig
from langgraph.store.postgres import PostgresStore
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from app.errors import InvalidInput
from app.store.db import Database, retrying

T = TypeVar("T")

TTL_CONFIG: TTLConfig = {"refresh_on_read": True, "omit_expired": True}


class PooledPostgresStore(PostgresStore):
    """``PostgresStore`` over a ``ConnectionPool`` (autocommit, ``dict_row``,
    ``prepare_threshold=0``) without the base class's per-store lock, which would serialize every
    request of a web process although each call borrows its own pooled connection."""

    @contextmanager
    def _cursor(self, *, pipeline: bool = False) -> Iterator[Any]:
        with self.conn.connection() as conn:  # type: ignore[union-attr,operator]
            if not pipeline:
                with conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur
            elif self.supports_pipeline:
                with conn.pipeline(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur
            else:
                with conn.transaction(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur


class MemoryStore:
    """The store operations of the API, each retried on retryable Postgres errors.

    Parameters:
        pool: a pool of autocommit ``dict_row`` connections with ``prepare_threshold=0``.
        retry_seconds: how long an operation keeps retrying (seconds).
        index: LangGraph's ``IndexConfig`` (``app.store.vectors.index_config``), or None.

    Every method raises ``InvalidInput`` for what the store refuses: an invalid namespace (empty,
    a bad label, the reserved root ``langgraph``), an unknown filter operator, a value Postgres
    cannot hold (NUL character).
    """

    def __init__(
        self, pool: ConnectionPool, retry_seconds: float = 30.0, index: Any = None
    ) -> None:
        self.store = PooledPostgresStore(pool, ttl=TTL_CONFIG, index=index)  # type: ignore[arg-type]
        self.retry_seconds = retry_seconds

    def _call(self, fn: Callable[[], T], what: str) -> T:
        try:
            return retrying(fn, budget_seconds=self.retry_seconds, what=what)
        except InvalidNamespaceError as exc:
            raise InvalidInput(f"Invalid namespace: {exc}") from exc
        except psycopg.DataError as exc:
            raise InvalidInput(f"Invalid value: {exc.diag.message_primary or exc}") from exc
        except ValueError as exc:  # e.g. "Unsupported operator: $foo" in a filter
            raise InvalidInput(str(exc)) from exc

    def put(
        self,
        namespace: Sequence[str],
        key: str,
        value: dict[str, Any],
        *,
        index: Literal[False] | list[str] | None = None,
        ttl: float | None = None,
    ) -> None:
        """Insert or replace an item; ``ttl`` in minutes (None: it never expires)."""
        self._call(
            lambda: self.store.put(tuple(namespace), key, value, index=index, ttl=ttl),
            "store put",
        )

    def get(
        self, namespace: Sequence[str], key: str, *, refresh_ttl: bool | None = None
    ) -> dict[str, Any] | None:
        """The item as JSON (``namespace``, ``key``, ``value``, ``created_at``,
        ``updated_at``), or None when it does not exist or has expired."""
        item = self._call(
            lambda: self.store.get(tuple(namespace), key, refresh_ttl=refresh_ttl), "store get"
        )
        return None if item is None else item.dict()

    def delete(self, namespace: Sequence[str], key: str) -> None:
        """Delete an item (nothing happens when it does not exist)."""
        self._call(lambda: self.store.delete(tuple(namespace), key), "store delete")

    def search(
        self,
        namespace_prefix: Sequence[str],
        *,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        query: str | None = None,
        refresh_ttl: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Items under ``namespace_prefix`` whose value matches ``filter`` (``{key: value}`` or
        ``{key: {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte": value}}``), newest first, each with a
        ``score`` (None: no vector search)."""
        items = self._call(
            lambda: self.store.search(
                tuple(namespace_prefix),
                filter=filter,
                limit=limit,
                offset=offset,
                query=query,
                refresh_ttl=refresh_ttl,
            ),
            "store search",
        )
        return [item.dict() for item in items]

    def list_namespaces(
        self,
        *,
        prefix: Sequence[str] | None = None,
        suffix: Sequence[str] | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[list[str]]:
        """The distinct namespaces (truncated to ``max_depth`` labels) that start with ``prefix``
        and end with ``suffix``, in order."""
        namespaces = self._call(
            lambda: self.store.list_namespaces(
                prefix=tuple(prefix) if prefix else None,
                suffix=tuple(suffix) if suffix else None,
                max_depth=max_depth,
                limit=limit,
                offset=offset,
            ),
            "store list_namespaces",
        )
        return [list(ns) for ns in namespaces]


def delete_expired(db: Database, now: datetime.datetime, limit: int) -> int:
    """Delete up to ``limit`` items whose TTL passed before ``now``; returns how many."""
    row = db.fetch_one("delete_expired_store_items", {"now": now, "limit": limit})
    return int(row["count"]) if row else 0
