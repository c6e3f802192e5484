"""The harness itself: a run created through the API is executed by the in-process runtime."""

from __future__ import annotations

import uuid

from app.store import runs as run_store
from tests.support import executions
from workers.actors.execute_run import execute_run


def test_run_created_over_http_executes_once(client, runtime, ledger):
    thread = client.post("/threads", json={}).get_json()
    run = client.post(
        f"/threads/{thread['thread_id']}/runs",
        json={"assistant_id": "ledger", "input": {"echo": 7}},
    ).get_json()
    assert run["status"] == "pending"
    execute_run(run["run_id"], 1)
    row = run_store.get(runtime.db, uuid.UUID(run["run_id"]))
    assert row["status"] == "success"
    assert row["output"] == {"ok": True, "echo": 7}
    assert executions(ledger) == {run["run_id"]: 1}
