"""Postgres for the store: ``Database`` (the pool of Callboard's own statements), the named
queries of this package's ``*.sql`` files, and retries of retryable errors with bounded backoff.
Driver errors a caller acts on become Callboard's here (``app.errors``): ``StoreUnavailable``
once the retries are spent, ``QueryTimeout``, ``InvalidInput``, ``PoolExhausted``. ``RETRYABLE``
lets the worker classify errors that reach it through LangGraph's checkpointer.

Only ``app.store`` imports the driver (psycopg, psycopg_pool). Its other modules use it where
this one does not reach: LangGraph's checkpointer and memory store and their pools
(``checkpoints``, ``memory``), a caller's own connection and ``LISTEN`` (``canvas``), named
constraint violations (``runs``, ``crons``), SQL composition (``filters``), the extension check
(``vectors``).

Connections are in autocommit mode: most units of work are one statement, one round trip
(BEGIN/statement/COMMIT would cost three). ``plan_cache_mode`` is ``force_custom_plan`` so that
a generic plan cached on a young ``runs`` table never turns a primary-key lookup into a scan.
"""

from __future__ import annotations

import datetime
import logging
import re
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from app import serde
from app.errors import InvalidInput, Overloaded, QueryTimeout, StoreUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

QUERIES_DIR = Path(__file__).parent
_BLOCK = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)

# errors after which the same unit of work may simply be tried again
RETRYABLE: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,  # connection refused/reset, admin shutdown, server closed
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    PoolTimeout,
)

# the type of ``Database.pool``, for annotations outside this package (which never imports the
# driver): a synchronous ``psycopg_pool.ConnectionPool``
Pool = ConnectionPool


class PoolExhausted(Overloaded):
    """Every connection of the process's pool stayed busy for the pool's timeout: answered 503
    with ``Retry-After`` (``app.api.errors``), never a hang."""

    retry_after_seconds = 1

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}: all database connections of this process are busy; retry")


def load_queries(directory: Path = QUERIES_DIR) -> dict[str, str]:
    """Parse every ``*.sql`` file of ``directory`` (one per store module: ``runs.sql`` for
    ``runs.py``, …) into ``{name: sql}``.

    Raises:
        ValueError: a name appears twice.
    """
    queries: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        parts = _BLOCK.split(path.read_text())
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in queries:
                raise ValueError(f"query {name!r} is defined twice ({path})")
            queries[name] = body.strip().rstrip(";")
    return queries


QUERIES = load_queries()


def jsonb(value: Any) -> Jsonb | None:
    """Adapt a Python value for a ``jsonb`` parameter (None stays SQL NULL)."""
    return None if value is None else Jsonb(value, dumps=serde.dumps)


def retrying(
    fn: Callable[[], T], *, budget_seconds: float, what: str, first_delay: float = 0.05
) -> T:
    """Call ``fn`` until it returns, retrying ``RETRYABLE`` errors with exponential backoff.

    Parameters:
        fn: the whole unit of work (it must be safe to run again after a failure).
        budget_seconds: give up after this many seconds of failures.
        what: a short label for the logs.
        first_delay: first backoff in seconds; doubles up to 1 s.

    Raises:
        StoreUnavailable: still failing when the budget ran out (the last error is chained).
        QueryTimeout: the statement ran past the connection's ``statement_timeout``.
    """
    deadline = time.monotonic() + budget_seconds
    delay = first_delay
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except psycopg.errors.QueryCanceled as exc:  # statement_timeout: trying again won't help
            raise QueryTimeout(f"{what}: {exc}") from exc
        except RETRYABLE as exc:
            if time.monotonic() + delay > deadline:
                raise StoreUnavailable(f"{what}: Postgres unavailable ({exc})") from exc
            logger.warning(
                "%s failed (attempt %d), retrying in %.2fs: %s", what, attempt, delay, exc
            )
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def connection_options(statement_timeout_seconds: float | None = None) -> str:
    """libpq ``options`` of Callboard's connections: ``plan_cache_mode`` (module docstring) and,
    if given, ``statement_timeout`` (seconds, sent in milliseconds)."""
    options = "-c plan_cache_mode=force_custom_plan"
    if statement_timeout_seconds is not None:
        options += f" -c statement_timeout={max(int(statement_timeout_seconds * 1000), 1)}"
    return options


class Database:
    """A pool of autocommit connections to ``url`` and the named queries.

    Parameters:
        url: libpq connection string or URL.
        min_size, max_size: pool bounds (connections).
        retry_seconds: how long a unit of work keeps retrying retryable errors (seconds).
        statement_timeout_seconds: Postgres cancels a statement running longer (``QueryTimeout``);
            None: no limit (workers, the sweeper). The web sets it for API queries.
        pool_timeout_seconds: how long a caller waits for a free connection.
        fail_fast_when_busy: no free connection within ``pool_timeout_seconds`` raises
            ``PoolExhausted`` at once (the web: a fast 503 with ``Retry-After``) instead of
            being retried for ``retry_seconds`` like an outage (workers, the sweeper).
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        retry_seconds: float = 30.0,
        statement_timeout_seconds: float | None = None,
        pool_timeout_seconds: float = 5.0,
        fail_fast_when_busy: bool = False,
    ) -> None:
        self.url = url
        self.retry_seconds = retry_seconds
        self.fail_fast_when_busy = fail_fast_when_busy
        self.pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "options": connection_options(statement_timeout_seconds),
            },
            timeout=pool_timeout_seconds,
            reconnect_timeout=0,  # keep trying to refill the pool; never give up for good
            open=False,
            name="callboard",
        )
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """Borrow a connection (autocommit; use ``conn.transaction()`` for several statements)."""
        with self.pool.connection() as conn:
            yield conn

    def run(self, work: Callable[[psycopg.Connection[Any]], T], what: str) -> T:
        """Run ``work(conn)`` on a pooled connection, retrying the whole unit on retryable errors.

        Raises:
            StoreUnavailable: Postgres kept failing for ``retry_seconds``.
            InvalidInput: Postgres refused a value (``DataError``: a NUL character or a lone
                surrogate in text or JSON, NaN/Infinity in JSON, a number out of range).
        """

        def attempt() -> T:
            try:
                conn = self.pool.getconn()
            except PoolTimeout as exc:
                if self.fail_fast_when_busy and self.pool.get_stats().get("pool_size", 0):
                    raise PoolExhausted(what) from exc  # busy, not down: do not wait 30 s
                raise
            try:
                with conn:  # as pool.connection(): end a transaction left open
                    return work(conn)
            finally:
                self.pool.putconn(conn)

        try:
            return retrying(attempt, budget_seconds=self.retry_seconds, what=what)
        except psycopg.DataError as exc:
            primary = exc.diag.message_primary or str(exc)
            detail = f" ({exc.diag.message_detail})" if exc.diag.message_detail else ""
            raise InvalidInput(f"Invalid value: {primary}{detail}") from exc

    def now(self) -> datetime.datetime:
        """The database's clock (``now()``, an aware datetime); retried as ``run``."""
        return self.run(lambda conn: conn.execute("SELECT now() AS now").fetchone()["now"], "now")

    def fetch(self, name: str, params: dict[str, Any] | None = None, **fmt: str) -> list[dict]:
        """Run the named query and return its rows as dicts (retried; see ``run``).

        ``fmt`` fills ``{placeholders}`` of trusted SQL fragments (an ORDER BY picked from a
        fixed list), never client values.
        """
        sql = QUERIES[name].format(**fmt) if fmt else QUERIES[name]

        def work(conn: psycopg.Connection[Any]) -> list[dict]:
            cur = conn.execute(sql, params or {})
            return cur.fetchall() if cur.description else []

        return self.run(work, name)

    def fetch_one(self, name: str, params: dict[str, Any] | None = None, **fmt: str) -> dict | None:
        """Like ``fetch`` but the first row or None."""
        rows = self.fetch(name, params, **fmt)
        return rows[0] if rows else None


def _server_has_spoken(fileno: int) -> bool:
    """True when the connection's socket is readable while no query is in flight: the server
    closed it or sent an unsolicited message (a shutdown notice). Costs no round trip."""
    poller = select.poll()  # poll(), not select(): descriptors may exceed 1024
    poller.register(fileno, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


async def acheck_idle_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    """``check`` for an ``AsyncConnectionPool``: hands out only live connections (a Postgres
    restart does not fail the next checkout of every pooled connection), without a round trip
    for a healthy one. psycopg_pool's ``check_connection`` runs a query at every checkout (two
    round trips with ``prepare_threshold=0``); this one looks at the socket, and runs that
    query only when the server has spoken since the connection went idle.

    Raises:
        psycopg.OperationalError: the connection is dead (the pool discards it).
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("connection closed")
    if _server_has_spoken(conn.fileno()):
        await AsyncConnectionPool.check_connection(conn)
