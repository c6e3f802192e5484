"""What follows the end of a run, after its final status is committed, whoever ended it (the
worker that ran it, or the sweeper that gave up on it)."""

from __future__ import annotations

import json
import logging

import dramatiq
import redis

from app import protocol_stream
from app.notify import RESULT_TTL_SECONDS, publish_run_done, result_key
from app.queue import send_execute_run
from app.run_metrics import record_run_end
from app.store import runs as run_store
from app.store import threads as thread_store
from app.store.db import Database
from app.streams import end_stream

logger = logging.getLogger(__name__)


def after_run_end(db: Database, client: redis.Redis, actor: dramatiq.Actor, row: dict) -> None:
    """For the run ``row`` (just made terminal):

    1. a temporary run with ``on_completion="delete"``: keep its result in Redis for an hour
       (``join`` reads it), then delete its thread, run and checkpoints;
    2. end its event stream and announce its end (joins and streams wake up);
    3. wake the next pending run of its thread (named by ``finish`` when it ended the run).

    Whoever ended it (a worker, the sweeper giving up on a lapsed run, a cancel), a run that was
    claimed is recorded in ``/metrics``' histograms (``app.run_metrics``).
    """
    run_id, thread_id = row["run_id"], row["thread_id"]
    if row.get("temporary") and row.get("on_completion") == "delete":
        try:
            client.set(result_key(run_id), json.dumps(row["output"]), ex=RESULT_TTL_SECONDS)
        except redis.RedisError as exc:  # best effort: join then answers 404
            logger.warning("run %r: could not keep its result in Redis: %s", str(run_id), exc)
        thread_store.delete(db, thread_id)
    record_run_end(client, row)  # the duration and queue-wait histograms of /metrics
    end_stream(client, run_id, thread_id, row["status"])
    protocol_stream.end_run(client, row)
    publish_run_done(client, run_id)
    if isinstance(row, run_store.FinishedRun):  # the statement that ended the run found it
        nxt = row.next_run
    else:
        nxt = run_store.next_pending(db, thread_id)
    if nxt is not None:
        send_execute_run(actor, nxt["run_id"], nxt["version"], queue=nxt["queue"])
