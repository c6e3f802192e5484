"""Double texting and cancels, through both ``langgraph_sdk`` clients against real ``web`` and
``worker`` processes: ``multitask_strategy`` reject / interrupt / rollback / enqueue on a busy
thread, cancel with ``wait`` and ``action`` on pending and running runs, and bulk cancel
(``POST /runs/cancel``); and the state-machine side of a delayed start (``after_seconds``),
whose end-to-end behaviour is in ``tests/acceptance/test_runs_extras.py``.

A rolled-back run must leave nothing behind: its row, and its checkpoints, their writes and the
blobs only they referred to (LangGraph's tables, checked here with SQL), while what earlier runs
of the thread wrote stays.
"""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError
from psycopg.rows import dict_row

from app.store import runs as run_store
from tests.integration.run_helpers import queued
from tests.sdk_clients import CLIENT_KINDS, open_client
from tests.support import Stack, read_ledger_timed, wait_for
from workers.actors.execute_run import execute_run

pytestmark = pytest.mark.timeout(180)

LONG = 60  # seconds a run sleeps when the test cancels it (never reached)


def sql(database_url: str, query: str, params: dict | None = None) -> list[dict]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        cur = conn.execute(query, params or {})  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def checkpoints_of(database_url: str, run_id: str) -> list[str]:
    rows = sql(
        database_url,
        "SELECT checkpoint_id FROM checkpoints WHERE metadata ->> 'run_id' = %(r)s",
        {"r": run_id},
    )
    return sorted(r["checkpoint_id"] for r in rows)


def assert_no_orphans(database_url: str, thread_id: str) -> None:
    """Every write belongs to a stored checkpoint; every blob is referred to by one."""
    orphan_writes = sql(
        database_url,
        """SELECT count(*) AS n FROM checkpoint_writes w WHERE w.thread_id = %(t)s
           AND NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.thread_id = w.thread_id
                           AND c.checkpoint_ns = w.checkpoint_ns
                           AND c.checkpoint_id = w.checkpoint_id)""",
        {"t": thread_id},
    )
    orphan_blobs = sql(
        database_url,
        """SELECT count(*) AS n FROM checkpoint_blobs b WHERE b.thread_id = %(t)s
           AND NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.thread_id = b.thread_id
                           AND c.checkpoint_ns = b.checkpoint_ns
                           AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version)""",
        {"t": thread_id},
    )
    assert (orphan_writes[0]["n"], orphan_blobs[0]["n"]) == (0, 0)


def run_count(database_url: str, thread_id: str) -> int:
    rows = sql(
        database_url, "SELECT count(*) AS n FROM runs WHERE thread_id = %(t)s", {"t": thread_id}
    )
    return int(rows[0]["n"])


def wait_status(client: Any, thread_id: str, run_id: str, wanted: str) -> None:
    wait_for(
        lambda: client.runs.get(thread_id, run_id)["status"] == wanted,
        timeout=60,
        interval=0.1,
        what=f"run {run_id} {wanted}",
    )


def wait_gone(client: Any, thread_id: str, run_id: str) -> None:
    def gone() -> bool:
        try:
            client.runs.get(thread_id, run_id)
        except NotFoundError:
            return True
        return False

    wait_for(gone, timeout=60, interval=0.1, what=f"run {run_id} deleted")


def events(ledger: Path) -> list[tuple[str, str]]:
    """``(run_id, event)`` in time order."""
    return [(e.run_id, e.event) for e in sorted(read_ledger_timed(ledger), key=lambda e: e.at)]


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_reject_and_interrupt_on_a_busy_thread(
    stack: Stack, ledger: Path, database_url: str, kind: str
) -> None:
    web = stack.web()
    stack.worker()
    with open_client(kind, web.url) as client:
        tid = client.threads.create()["thread_id"]
        first = client.runs.create(tid, "ledger", input={"sleep": LONG})["run_id"]
        wait_status(client, tid, first, "running")
        queued = client.runs.create(tid, "ledger", input={"echo": 2})["run_id"]

        with pytest.raises(ConflictError) as refused:
            client.runs.create(tid, "ledger", input={}, multitask_strategy="reject")
        assert "busy" in refused.value.response.json()["detail"]
        assert run_count(database_url, tid) == 2  # the refused run was not written

        third = client.runs.create(tid, "ledger", input={"echo": 3}, multitask_strategy="interrupt")
        assert (third["status"], third["multitask_strategy"]) == ("pending", "interrupt")
        # the queued run was interrupted in the transaction that created the third
        assert client.runs.get(tid, queued)["status"] == "interrupted"
        assert client.runs.join(tid, third["run_id"]) == {"ok": True, "echo": 3}
        assert client.runs.get(tid, first)["status"] == "interrupted"
        listed = {r["run_id"]: r["status"] for r in client.runs.list(tid)}
        assert listed == {first: "interrupted", queued: "interrupted", third["run_id"]: "success"}
        assert client.threads.get(tid)["status"] == "idle"

    # the first run was stopped before the third started; the queued one never ran
    assert events(ledger) == [
        (first, "start"),
        (first, "cancel"),
        (third["run_id"], "start"),
        (third["run_id"], "end"),
    ]


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_rollback_deletes_the_superseded_runs_and_what_they_wrote(
    stack: Stack, ledger: Path, database_url: str, kind: str
) -> None:
    web = stack.web()
    stack.worker()
    with open_client(kind, web.url) as client:
        tid = client.threads.create()["thread_id"]
        done = client.runs.create(tid, "ledger", input={"echo": 0})["run_id"]
        assert client.runs.join(tid, done) == {"ok": True, "echo": 0}
        kept = checkpoints_of(database_url, done)
        assert kept

        slow = {"sleep": LONG}
        first = client.runs.create(tid, "ledger", input=slow, durability="sync")["run_id"]
        wait_status(client, tid, first, "running")
        wait_for(lambda: checkpoints_of(database_url, first), timeout=30, what="checkpoints")
        queued = client.runs.create(tid, "ledger", input={"echo": 2})["run_id"]

        third = client.runs.create(tid, "ledger", input={"echo": 3}, multitask_strategy="rollback")
        with pytest.raises(NotFoundError):  # deleted in the creating transaction
            client.runs.get(tid, queued)
        assert client.runs.join(tid, third["run_id"]) == {"ok": True, "echo": 3}
        with pytest.raises(NotFoundError):  # the third ran only once the first was gone
            client.runs.get(tid, first)
        assert [r["run_id"] for r in client.runs.list(tid)][:1] == [third["run_id"]]
        assert client.threads.get_state(tid)["values"] == {"ok": True, "echo": 3}
        assert client.threads.get(tid)["status"] == "idle"

    assert checkpoints_of(database_url, first) == []
    assert checkpoints_of(database_url, done) == kept  # earlier runs keep what they wrote
    assert checkpoints_of(database_url, third["run_id"])
    assert_no_orphans(database_url, tid)
    assert events(ledger)[-4:] == [
        (first, "start"),
        (first, "cancel"),
        (third["run_id"], "start"),
        (third["run_id"], "end"),
    ]


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_cancel_with_wait_and_action_on_pending_and_running_runs(
    stack: Stack, database_url: str, kind: str
) -> None:
    web = stack.web()
    stack.worker()
    with open_client(kind, web.url) as client:
        tid = client.threads.create()["thread_id"]
        running = client.runs.create(tid, "ledger", input={"sleep": LONG}, durability="sync")
        running_id = running["run_id"]
        wait_status(client, tid, running_id, "running")

        pending = client.runs.create(tid, "ledger", input={})["run_id"]
        assert client.runs.cancel(tid, pending, wait=True, action="interrupt") == {}
        assert client.runs.get(tid, pending)["status"] == "interrupted"

        pending = client.runs.create(tid, "ledger", input={})["run_id"]
        assert client.runs.cancel(tid, pending, wait=True, action="rollback") == {}
        with pytest.raises(NotFoundError):
            client.runs.get(tid, pending)

        wait_for(lambda: checkpoints_of(database_url, running_id), timeout=30, what="checkpoints")
        assert client.runs.cancel(tid, running_id, wait=True, action="rollback") == {}
        with pytest.raises(NotFoundError):  # wait=True answered once it was deleted
            client.runs.get(tid, running_id)
        assert checkpoints_of(database_url, running_id) == []

        running_id = client.runs.create(tid, "ledger", input={"sleep": LONG})["run_id"]
        wait_status(client, tid, running_id, "running")
        assert client.runs.cancel(tid, running_id, wait=True, action="interrupt") == {}
        assert client.runs.get(tid, running_id)["status"] == "interrupted"

        # a cancel without wait answers at once; the worker records the outcome
        running_id = client.runs.create(tid, "ledger", input={"sleep": LONG})["run_id"]
        wait_status(client, tid, running_id, "running")
        assert client.runs.cancel(tid, running_id) is None
        wait_status(client, tid, running_id, "interrupted")
        assert client.threads.get(tid)["status"] == "interrupted"
    assert_no_orphans(database_url, tid)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_cancel_many(stack: Stack, database_url: str, kind: str) -> None:
    web = stack.web()
    stack.worker()
    with open_client(kind, web.url) as client:
        t1, t2, t3 = (client.threads.create()["thread_id"] for _ in range(3))
        a = client.runs.create(t1, "ledger", input={"sleep": LONG})["run_id"]
        c = client.runs.create(t2, "ledger", input={"sleep": LONG})["run_id"]
        for thread_id, run_id in ((t1, a), (t2, c)):
            wait_status(client, thread_id, run_id, "running")
        b = client.runs.create(t1, "ledger", input={})["run_id"]
        d = client.runs.create(t2, "ledger", input={})["run_id"]
        e = client.runs.create(t3, "ledger", input={}, after_seconds=3600)["run_id"]

        # by thread and ids: the pending one at once, the running one by its worker
        client.runs.cancel_many(thread_id=t1, run_ids=[a, b])
        assert client.runs.get(t1, b)["status"] == "interrupted"
        wait_status(client, t1, a, "interrupted")

        # by status: every pending run of every thread, and no running one
        client.runs.cancel_many(status="pending")
        assert client.runs.get(t2, d)["status"] == "interrupted"
        assert client.runs.get(t3, e)["status"] == "interrupted"
        assert client.runs.get(t2, c)["status"] == "running"

        client.runs.cancel_many(status="running", action="rollback")
        wait_gone(client, t2, c)

        with pytest.raises(NotFoundError):  # nothing left to cancel
            client.runs.cancel_many(status="all")
        with pytest.raises(NotFoundError):  # finished runs are not cancelled again
            client.runs.cancel_many(thread_id=t1, run_ids=[a, b])
        with pytest.raises(UnprocessableEntityError):
            client.runs.cancel_many(status="pending", thread_id=t1)
        with pytest.raises(UnprocessableEntityError):
            client.runs.cancel_many(thread_id=t1)  # run_ids missing
        with pytest.raises(UnprocessableEntityError):
            client.runs.cancel_many(thread_id=t1, run_ids=[b], action="explode")  # type: ignore[arg-type]
        assert client.runs.get(t1, b)["status"] == "interrupted"
    rows = sql(database_url, "SELECT status, count(*) AS n FROM runs GROUP BY status")
    assert {r["status"]: r["n"] for r in rows} == {"interrupted": 4}


def test_enqueue_is_the_default_and_runs_go_in_creation_order(stack: Stack, ledger: Path) -> None:
    web = stack.web()
    stack.worker()
    with open_client("sync", web.url) as client:
        tid = client.threads.create()["thread_id"]
        ids = [
            client.runs.create(tid, "ledger", input={"sleep": 0.2, "echo": i})["run_id"]
            for i in range(2)
        ]
        last = client.runs.create(tid, "ledger", input={"echo": 2}, multitask_strategy="enqueue")
        ids.append(last["run_id"])
        assert [client.runs.join(tid, r) for r in ids] == [
            {"ok": True, "echo": i} for i in range(3)
        ]
        assert {r["multitask_strategy"] for r in client.runs.list(tid)} == {"enqueue"}
    assert events(ledger) == [(r, ev) for r in ids for ev in ("start", "end")]


def test_a_delayed_run_is_neither_claimed_nor_resent_before_its_start(
    client: Any, runtime: Any, database_url: str
) -> None:
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    body = {"assistant_id": "ledger", "input": {}, "after_seconds": 30}
    delayed = client.post(f"/threads/{tid}/runs", json=body).get_json()
    # the web sent one delayed message (Dramatiq's delay queue), nothing to the queue itself
    queue = runtime.settings.queue_name
    assert queued(runtime.redis, f"{queue}.DQ") == [(delayed["run_id"], 1)]
    assert queued(runtime.redis, queue) == []

    def status(run_id: str) -> tuple[str, int] | None:
        row = run_store.get(runtime.db, uuid.UUID(run_id))
        return None if row is None else (row["status"], row["attempt"])

    execute_run(delayed["run_id"], 1)  # a message that came early: not claimed ...
    assert status(delayed["run_id"]) == ("pending", 0)
    # ... and sent again, delayed for the time left
    assert queued(runtime.redis, f"{queue}.DQ") == [(delayed["run_id"], 1)] * 2
    left = run_store.start_delay(runtime.db, uuid.UUID(delayed["run_id"]))
    assert left is not None and 29 < left["wait_seconds"] <= 30

    # a run created after it on the same thread is not held up: the sweeper's query for lost
    # messages picks it, not the delayed run
    later = client.post(f"/threads/{tid}/runs", json={"assistant_id": "ledger", "input": {}})
    later = later.get_json()
    far = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    lost = runtime.db.fetch("mark_pending_runs_resent", {"older_than": far, "limit": 10})
    assert [str(r["run_id"]) for r in lost] == [later["run_id"]]
    execute_run(later["run_id"], 1)
    assert status(later["run_id"]) == ("success", 1)

    sql(
        database_url,
        "UPDATE runs SET not_before = now() WHERE run_id = %(r)s",
        {"r": delayed["run_id"]},
    )
    execute_run(delayed["run_id"], 1)  # due now
    assert status(delayed["run_id"]) == ("success", 1)
