"""``POST /runs/batch`` as one INSERT (``app/store/run_batches.py``): the runs in order, all or
none, and a failure in a batch (a missing thread, a value Postgres refuses, a retry after a lost
acknowledgement) loses and duplicates nothing."""

from __future__ import annotations

import uuid

from app.run_requests import build_run
from app.store import assistants as assistant_store
from app.store import run_batches
from app.store import runs as run_store
from tests.integration.run_helpers import sql


def _count(db) -> int:
    return int(sql(db, "SELECT count(*) AS n FROM runs")[0]["n"])


def _threads(client, n: int) -> list[str]:
    return [client.post("/threads", json={}).get_json()["thread_id"] for _ in range(n)]


def test_a_batch_on_threads_is_one_statement_in_order(app, client):
    db = app.extensions["callboard"].db
    threads = _threads(client, 3)
    items = [
        {"thread_id": t, "assistant_id": "noop", "input": {"i": i}, "metadata": {"i": i}}
        for i, t in enumerate([*threads, threads[0]])
    ]
    response = client.post("/runs/batch", json=items)
    assert response.status_code == 200, response.get_json()
    runs = response.get_json()
    assert [r["thread_id"] for r in runs] == [*threads, threads[0]]
    assert [r["kwargs"]["input"] for r in runs] == [{"i": i} for i in range(4)]
    assert all(r["status"] == "pending" for r in runs)
    rows = [run_store.get(db, uuid.UUID(r["run_id"])) for r in runs]
    assert [row["seq"] for row in rows] == sorted(row["seq"] for row in rows)
    thread = client.get(f"/threads/{threads[1]}").get_json()
    assert thread["metadata"]["graph_id"] == "noop"
    # the runs of one thread still go in creation order
    listed = client.get(f"/threads/{threads[0]}/runs").get_json()
    assert [r["run_id"] for r in listed] == [runs[3]["run_id"], runs[0]["run_id"]]


def test_a_missing_thread_refuses_the_whole_batch(app, client):
    db = app.extensions["callboard"].db
    threads = _threads(client, 2)
    before = _count(db)
    missing = str(uuid.uuid4())
    items = [{"thread_id": t, "assistant_id": "noop", "input": {}} for t in (*threads, missing)]
    response = client.post("/runs/batch", json=items)
    assert response.status_code == 404
    assert missing in response.get_json()["detail"]
    assert _count(db) == before


def test_a_value_postgres_refuses_writes_nothing(app, client):
    db = app.extensions["callboard"].db
    threads = _threads(client, 2)
    before = _count(db)
    items = [
        {"thread_id": threads[0], "assistant_id": "noop", "input": {"ok": True}},
        {"thread_id": threads[1], "assistant_id": "noop", "input": {"text": "nul \u0000 here"}},
    ]
    response = client.post("/runs/batch", json=items)
    assert response.status_code == 422, response.get_json()
    assert _count(db) == before
    assert client.get(f"/threads/{threads[0]}/runs").get_json() == []


def test_a_retried_insert_after_its_commit_duplicates_nothing(app, client):
    svc = app.extensions["callboard"]
    threads = _threads(client, 3)
    noop = assistant_store.get(svc.db, assistant_store.default_assistant_id("noop"))
    news = [
        build_run(noop, {"assistant_id": "noop", "input": {"i": i}}, uuid.UUID(t))
        for i, t in enumerate(threads)
    ]
    assert run_batches.fits(news)
    before = _count(svc.db)
    first = run_batches.insert(svc.db, news)
    # the acknowledgement of the COMMIT was lost: the same statement runs again
    again = run_batches.insert(svc.db, news)
    assert [r["run_id"] for r in again] == [r["run_id"] for r in first]
    assert _count(svc.db) == before + 3
