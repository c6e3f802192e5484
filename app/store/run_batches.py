"""A batch of runs created by one INSERT (``POST /runs/batch``; ``run_batches.sql``).

``insert`` takes the batch's ``NewRun`` s when each is a plain enqueue on an existing thread (the
common case: no multitask strategy to decide under a lock, no thread to create, no delayed
start, no Idempotency-Key); ``app.store.run_creation.create`` uses it then, and its per-run
transaction otherwise. All or none: a missing thread refuses the whole batch (``NotFound``) and
a value Postgres refuses fails the statement, so nothing is written; a statement retried after
its COMMIT's acknowledgement was lost inserts nothing more and answers the runs it created.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.errors import NotFound
from app.store.db import QUERIES, Database, jsonb


def fits(news: Sequence[Any]) -> bool:
    """True when every ``NewRun`` of ``news`` can go in the one statement."""
    return all(new.one_statement and not new.temporary for new in news)


def insert(db: Database, news: Sequence[Any]) -> list[dict]:
    """Insert the pending runs ``news`` (``app.store.run_creation.NewRun``, ``fits``) in their
    order and return their rows in that order.

    Raises:
        NotFound: a thread of the batch does not exist (nothing was inserted).
        InvalidInput: Postgres refused a value (nothing was inserted).
    """
    run_ids = [new.run_id for new in news]
    params = {
        "run_ids": run_ids,
        "thread_ids": [new.thread_id for new in news],
        "assistant_ids": [new.assistant_id for new in news],
        "graph_ids": [new.graph_id for new in news],
        "metadata": [jsonb(new.metadata) for new in news],
        "kwargs": [jsonb(new.kwargs) for new in news],
        "multitask_strategies": [new.multitask_strategy for new in news],
        "on_completions": [new.on_completion for new in news],
        "thread_metadata": [jsonb(new.thread_metadata or {}) for new in news],
    }

    def work(conn: Any) -> list[dict]:
        rows = conn.execute(QUERIES["insert_runs_batch"], params).fetchall()
        if len(rows) == len(news):
            return rows
        # nothing inserted: a thread is missing, or this is a retry whose first try committed
        rows = conn.execute(QUERIES["get_runs_by_ids"], {"run_ids": run_ids}).fetchall()
        if len(rows) == len(news):
            return rows
        missing = conn.execute(QUERIES["missing_threads"], params).fetchall()
        names = ", ".join(str(row["thread_id"]) for row in missing) or "?"
        raise NotFound(f"Thread with ID {names} not found")

    by_id = {row["run_id"]: row for row in db.run(work, "insert_runs_batch")}
    return [by_id[run_id] for run_id in run_ids]
