"""Plain functions (Celery-style tasks) run directly (``workers/plain.py``), not through Pregel:
the thread's state and history as a client reads them, the stream modes, cancel, timeout and
error, and the fence of the finish that writes the checkpoint (a stale attempt writes neither).

Workers are simulated as in ``test_state_machine``: the test calls the actor body
``execute_run`` against the in-process ``runtime``.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from app.runs import RunStatus
from app.store import runs as run_store
from app.store.checkpoints import sync_saver
from tests.integration.run_helpers import checkpoint_count, checkpoint_write_count, new_run, sql
from tests.support import wait_for
from workers import plain
from workers.actors.execute_run import execute_run
from workers.executor import StopReason


def _thread(client) -> str:
    return client.post("/threads", json={}).get_json()["thread_id"]


def _run(client, thread_id: str, graph: str, input: Any, **body: Any) -> dict:
    response = client.post(
        f"/threads/{thread_id}/runs", json={"assistant_id": graph, "input": input, **body}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _execute(client, thread_id: str, graph: str, input: Any, **body: Any) -> dict:
    """Create a run, execute it here, and return the run as GET answers it."""
    run = _run(client, thread_id, graph, input, **body)
    execute_run(run["run_id"], 1)
    return client.get(f"/threads/{thread_id}/runs/{run['run_id']}").get_json()


def _events(client, thread_id: str, run_id: str) -> list[tuple[str, Any]]:
    """Every event of a finished run's stream, from the start (``Last-Event-ID: -``)."""
    response = client.get(
        f"/threads/{thread_id}/runs/{run_id}/stream", headers={"Last-Event-ID": "-"}
    )
    events = []
    for block in response.get_data(as_text=True).split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_which_runs_take_the_direct_path(runtime):
    registry = runtime.registry
    spec = registry.get("plain")
    # a run's kwargs always name its stream modes (app.run_requests.build_run)
    assert plain.runs_directly(spec, {"input": {}, "stream_mode": ["values"]})
    assert plain.runs_directly(spec, {"input": {}, "stream_mode": ["values", "updates"]})
    for kwargs in (
        {"stream_mode": ["custom"]},
        {"stream_mode": ["values", "debug"]},
        {"command": {"resume": 1}},
        {"checkpoint_id": "x"},
        {"interrupt_before": ["plain"]},
        {"subgraphs": True},
    ):
        kwargs = {"stream_mode": ["values"], **kwargs}
        assert not plain.runs_directly(spec, kwargs), kwargs
    assert not plain.runs_directly(registry.get("accumulate"), {})  # a StateGraph
    assert not plain.runs_directly(registry.get("ledger"), {})  # an @entrypoint


@pytest.mark.parametrize("graph", ["plain", "plain_async"])
def test_state_and_history_are_those_of_the_entrypoint_wrapper(client, runtime, graph):
    direct = _thread(client)
    first = _execute(client, direct, graph, {"n": 1})
    second = _execute(client, direct, graph, {"n": 2})
    assert first["status"] == second["status"] == "success"
    assert client.get(f"/threads/{direct}/runs/{second['run_id']}/join").get_json() == {
        "n": 2,
        "double": 4,
        "tags": ["plain"],
    }
    # the control: the same function through its @entrypoint wrapper (Pregel and the saver),
    # which a stream mode only LangGraph provides forces
    wrapped = _thread(client)
    for n in (1, 2):
        _execute(client, wrapped, graph, {"n": n}, stream_mode=["values", "debug"])

    state = client.get(f"/threads/{direct}/state").get_json()
    control = client.get(f"/threads/{wrapped}/state").get_json()
    for key in ("values", "next", "tasks", "interrupts"):
        assert state[key] == control[key], key
    for key in ("source", "step", "run_id", "graph_id", "thread_id"):
        assert (key in state["metadata"]) == (key in control["metadata"]), key
    assert state["metadata"]["source"] == "loop" and state["metadata"]["step"] == 2
    assert state["metadata"]["run_id"] == second["run_id"]
    thread = client.get(f"/threads/{direct}").get_json()
    assert thread["status"] == "idle" and thread["values"] == state["values"]

    history = client.post(f"/threads/{direct}/history", json={}).get_json()
    assert [h["values"]["n"] for h in history] == [2, 1]  # one checkpoint per direct run
    assert [h["metadata"]["step"] for h in history] == [2, 0]
    assert (
        history[0]["parent_checkpoint"]["checkpoint_id"]
        == (history[1]["checkpoint"]["checkpoint_id"])
    )
    assert history[1]["parent_checkpoint"] is None
    # the direct path wrote no pending writes (the wrapper writes some per step)
    assert checkpoint_write_count(runtime.db, uuid.UUID(direct)) == 0

    # LangGraph's own saver reads it; and the wrapper continues the thread after it
    saved = sync_saver(runtime.db.pool).get_tuple({"configurable": {"thread_id": direct}})
    assert saved.checkpoint["channel_values"]["__end__"]["n"] == 2
    updated = client.post(f"/threads/{direct}/state", json={"values": {"n": 7}})
    assert updated.status_code == 200, updated.get_json()
    assert client.get(f"/threads/{direct}/state").get_json()["values"] == {"n": 7}
    third = _execute(client, direct, graph, {"n": 3})
    assert client.get(f"/threads/{direct}/state").get_json()["values"]["n"] == 3
    assert third["status"] == "success"


def test_a_result_that_is_not_a_dict_is_stored_inline(client, runtime):
    thread_id = _thread(client)
    run = _execute(client, thread_id, "plain_scalar", {})
    assert client.get(f"/threads/{thread_id}/runs/{run['run_id']}/join").get_json() == 42
    assert client.get(f"/threads/{thread_id}/state").get_json()["values"] == 42
    blobs = sql(
        runtime.db,
        "SELECT count(*) AS n FROM checkpoint_blobs WHERE thread_id = %(t)s",
        {"t": thread_id},
    )
    assert blobs[0]["n"] == 0


def test_stream_modes_values_and_updates(client, runtime):
    thread_id = _thread(client)
    run = _run(client, thread_id, "plain", {"n": 5}, stream_mode=["values", "updates"])
    assert plain.runs_directly(runtime.registry.get("plain"), run["kwargs"])
    execute_run(run["run_id"], 1)
    events = _events(client, thread_id, run["run_id"])
    result = {"n": 5, "double": 10, "tags": ["plain"]}
    assert [e for e, _ in events] == ["metadata", "updates", "values"]
    assert events[0][1]["run_id"] == run["run_id"]
    assert events[1][1] == {"plain": result}
    assert events[2][1] == result

    # the default: values only
    run = _run(client, thread_id, "plain", {"n": 6})
    execute_run(run["run_id"], 1)
    assert [e for e, _ in _events(client, thread_id, run["run_id"])] == ["metadata", "values"]


def test_error_ends_the_run_and_leaves_the_state(client, runtime):
    thread_id = _thread(client)
    _execute(client, thread_id, "plain", {"n": 1})
    failed = _execute(client, thread_id, "plain", {"fail": "no luck"})
    assert failed["status"] == "error"
    joined = client.get(f"/threads/{thread_id}/runs/{failed['run_id']}/join").get_json()
    assert joined == {"__error__": {"error": "ValueError", "message": "no luck"}}
    assert checkpoint_count(runtime.db, uuid.UUID(thread_id)) == 1
    assert client.get(f"/threads/{thread_id}/state").get_json()["values"]["n"] == 1
    assert client.get(f"/threads/{thread_id}").get_json()["status"] == "error"
    events = [e for e, _ in _events(client, thread_id, failed["run_id"])]
    assert events == ["metadata", "error"]


def test_interrupt_is_not_available_to_a_plain_function(client, runtime):
    thread_id = _thread(client)
    run = _execute(client, thread_id, "plain", {"interrupt": True})
    assert run["status"] == "error"
    assert checkpoint_count(runtime.db, uuid.UUID(thread_id)) == 0


def test_timeout(client, runtime):
    thread_id = _thread(client)
    started = time.monotonic()
    run = _execute(
        client,
        thread_id,
        "plain_async",
        {"sleep": 30},
        config={"configurable": {"run_timeout_seconds": 0.3}},
    )
    assert time.monotonic() - started < 10
    assert run["status"] == "timeout"
    assert checkpoint_count(runtime.db, uuid.UUID(thread_id)) == 0


@pytest.mark.parametrize(("graph", "seconds"), [("plain_async", 30), ("plain", 1.5)])
def test_cancel_ends_a_running_plain_function_at_once(client, runtime, graph, seconds):
    thread_id = _thread(client)
    run = _run(client, thread_id, graph, {"sleep": seconds})
    run_id = uuid.UUID(run["run_id"])
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(execute_run, run["run_id"], 1)
        try:
            wait_for(
                lambda: run_id in runtime.executor.active_run_ids,
                timeout=10,
                what="the function running on the executor",
            )
            started = time.monotonic()
            response = client.post(f"/threads/{thread_id}/runs/{run['run_id']}/cancel")
            assert response.status_code == 202
            # the cancel reaches the attempt by pub/sub or the lease check; a sync function's
            # thread runs on, but the attempt does not wait for it
            future.result(timeout=15)
            assert time.monotonic() - started < seconds + 5
        finally:
            runtime.executor.stop(run_id, StopReason.SHUTDOWN)
    row = client.get(f"/threads/{thread_id}/runs/{run['run_id']}").get_json()
    assert row["status"] == "interrupted"
    assert checkpoint_count(runtime.db, uuid.UUID(thread_id)) == 0


def test_a_stale_attempt_writes_neither_its_finish_nor_its_checkpoint(runtime):
    db = runtime.db
    run = new_run(db, graph_id="plain", input={"n": 3})
    thread_id = run["thread_id"]
    claim = run_store.claim(db, run["run_id"], 1, "w")
    assert claim is not None
    spec = runtime.registry.get("plain")
    config = {"configurable": {"thread_id": str(thread_id)}, "metadata": {}}
    result = {"n": 3}
    rows = plain.build_checkpoint(runtime.executor.checkpointer, spec, claim, config, result)
    assert rows.blobs  # a dict result is a blob: both tables are in play

    # the sweeper requeues the run and another attempt claims it: this claim is stale
    requeued = run_store.requeue(db, claim, reason="heartbeat lapsed", max_attempts=3)
    newer = run_store.claim(db, run["run_id"], requeued["version"], "w2")
    assert newer is not None
    assert run_store.finish(db, claim, RunStatus.SUCCESS, output=result, checkpoint=rows) is None
    assert checkpoint_count(db, thread_id) == 0
    blobs = sql(
        db,
        "SELECT count(*) AS n FROM checkpoint_blobs WHERE thread_id = %(t)s",
        {"t": str(thread_id)},
    )
    assert blobs[0]["n"] == 0
    current = run_store.get(db, run["run_id"])
    assert current["status"] == RunStatus.RUNNING and current["claim_token"] == newer.claim_token

    # the control: the owner's finish writes both, and names the next run to wake (none)
    rows = plain.build_checkpoint(runtime.executor.checkpointer, spec, newer, config, result)
    row = run_store.finish(db, newer, RunStatus.SUCCESS, output=result, checkpoint=rows)
    assert row is not None and row["status"] == RunStatus.SUCCESS
    assert row.next_run is None
    assert checkpoint_count(db, thread_id) == 1


def test_finish_names_the_next_pending_run_of_the_thread(runtime):
    db = runtime.db
    first = new_run(db, graph_id="plain", input={"n": 1})
    second = new_run(db, first["thread_id"], graph_id="plain", input={"n": 2})
    claim = run_store.claim(db, first["run_id"], 1, "w")
    row = run_store.finish(db, claim, RunStatus.SUCCESS, output={"n": 1})
    assert row.next_run == {"run_id": second["run_id"], "version": second["version"], "queue": None}
