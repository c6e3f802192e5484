"""End to end: the Procfile's ``web`` and ``worker`` as real processes, driven only through the
official ``langgraph_sdk`` clients (sync and async), as a user of the service would drive it.

Expected values are computed here independently of the example graphs (``hashlib``,
``collections.Counter``, plain arithmetic).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client, get_sync_client

from tests.support import Stack, executions, read_ledger, wait_for

pytestmark = pytest.mark.timeout(180)


def _expected_word_stats(text: str) -> dict[str, Any]:
    words = text.lower().split()
    counts = Counter(words)
    return {
        "words": len(words),
        "unique": len(counts),
        "top": [[w, n] for w, n in counts.most_common(5)],
    }


def _expected_sha256(payload: str, rounds: int) -> dict[str, Any]:
    data = payload
    for _ in range(rounds):
        data = hashlib.sha256(data.encode()).hexdigest()
    return {"sha256": data, "rounds": rounds}


def _expected_accumulate(numbers: list[float], runs: int) -> dict[str, Any]:
    total = sum(numbers)
    return {
        "numbers": numbers,
        "total": total,
        "count": len(numbers),
        "mean": total / len(numbers),
        "runs": runs,
    }


TEXT = "the quick fox and the lazy dog and the cat saw a fox the end"

# (graph, input, expected output = the thread's values after one run on a fresh thread)
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("word_stats", {"text": TEXT}, _expected_word_stats(TEXT)),
    ("sha256", {"payload": "callboard ✓", "rounds": 3}, _expected_sha256("callboard ✓", 3)),
    ("accumulate", {"numbers": [1, 2.5, 4]}, _expected_accumulate([1, 2.5, 4], 1)),
    ("sleeper", {"seconds": 0.2}, {"slept": 0.2}),
    (
        "noop",
        {"a": 1, "nested": {"b": [1, "two", None]}},
        {"a": 1, "nested": {"b": [1, "two", None]}},
    ),
]


def _status(client: Any, thread_id: str, run_id: str) -> str:
    return client.runs.get(thread_id, run_id)["status"]


def _wait_status(
    client: Any, thread_id: str, run_id: str, wanted: str, timeout: float = 30
) -> None:
    wait_for(
        lambda: _status(client, thread_id, run_id) == wanted,
        timeout=timeout,
        what=f"run {run_id} {wanted}",
    )


def test_example_graphs_on_a_thread_and_stateless(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    with get_sync_client(url=web.url) as client:
        started = []
        for graph, graph_input, expected in CASES:
            thread = client.threads.create()
            on_thread = client.runs.create(thread["thread_id"], graph, input=graph_input)
            assert on_thread["status"] == "pending"
            assert on_thread["thread_id"] == thread["thread_id"]
            stateless = client.runs.create(None, graph, input=graph_input)
            kept = client.runs.create(None, graph, input=graph_input, on_completion="keep")
            started.append((graph, expected, thread, on_thread, stateless, kept))

        for graph, expected, thread, on_thread, stateless, kept in started:
            assert client.runs.join(thread["thread_id"], on_thread["run_id"]) == expected, graph
            run = client.runs.get(thread["thread_id"], on_thread["run_id"])
            assert run["status"] == "success", graph
            after = client.threads.get(thread["thread_id"])
            assert after["status"] == "idle", graph
            assert after["values"] == expected, graph
            assert client.threads.get_state(thread["thread_id"])["values"] == expected, graph

            # stateless, default on_completion="delete": joinable, then its thread is gone
            assert client.runs.join(stateless["thread_id"], stateless["run_id"]) == expected, graph
            assert stateless["thread_id"] != thread["thread_id"]

            # stateless, on_completion="keep": the run and its thread stay readable
            assert client.runs.join(kept["thread_id"], kept["run_id"]) == expected, graph
            assert _status(client, kept["thread_id"], kept["run_id"]) == "success", graph
            kept_thread = client.threads.get(kept["thread_id"])
            assert kept_thread["status"] == "idle", graph
            assert kept_thread["values"] == expected, graph


def test_accumulate_across_runs_and_a_failing_run(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    with get_sync_client(url=web.url) as client:
        thread_id = client.threads.create()["thread_id"]
        first = client.runs.create(thread_id, "accumulate", input={"numbers": [1, 2, 3]})
        assert client.runs.join(thread_id, first["run_id"]) == _expected_accumulate([1, 2, 3], 1)
        second = client.runs.create(thread_id, "accumulate", input={"numbers": [4, 5.5]})
        expected = _expected_accumulate([1, 2, 3, 4, 5.5], 2)
        assert expected["total"] == 15.5 and expected["count"] == 5 and expected["mean"] == 3.1
        assert client.runs.join(thread_id, second["run_id"]) == expected
        assert _status(client, thread_id, first["run_id"]) == "success"
        assert _status(client, thread_id, second["run_id"]) == "success"
        thread = client.threads.get(thread_id)
        assert thread["status"] == "idle"
        assert thread["values"] == expected
        state = client.threads.get_state(thread_id)
        assert state["values"] == expected
        assert state["next"] == []

        # a non-number: the graph raises TypeError; the run ends in error, so does the thread
        bad_thread = client.threads.create()["thread_id"]
        bad = client.runs.create(bad_thread, "accumulate", input={"numbers": [1, "x"]})
        result = client.runs.join(bad_thread, bad["run_id"])
        assert set(result) == {"__error__"}
        assert result["__error__"]["error"] == "TypeError"
        assert "'x'" in result["__error__"]["message"]
        assert _status(client, bad_thread, bad["run_id"]) == "error"
        assert client.threads.get(bad_thread)["status"] == "error"

        # stateless failure: join still answers the error
        bad = client.runs.create(None, "accumulate", input={"numbers": ["nope"]})
        result = client.runs.join(bad["thread_id"], bad["run_id"])
        assert result["__error__"]["error"] == "TypeError"


def test_cancel_pending_and_running_runs(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    with get_sync_client(url=web.url) as client:
        thread_id = client.threads.create()["thread_id"]
        long = client.runs.create(thread_id, "sleeper", input={"seconds": 60})
        _wait_status(client, thread_id, long["run_id"], "running")
        assert client.threads.get(thread_id)["status"] == "busy"

        # queued behind the running one on the same thread: pending until it ends
        queued = client.runs.create(thread_id, "sleeper", input={"seconds": 60})
        assert _status(client, thread_id, queued["run_id"]) == "pending"
        client.runs.cancel(thread_id, queued["run_id"])
        assert _status(client, thread_id, queued["run_id"]) == "interrupted"  # at once
        assert _status(client, thread_id, long["run_id"]) == "running"  # untouched

        # cancel the running one: interrupted long before its 60 s sleep would end
        client.runs.cancel(thread_id, long["run_id"])
        _wait_status(client, thread_id, long["run_id"], "interrupted", timeout=15)
        assert client.threads.get(thread_id)["status"] == "interrupted"

        # wait=True answers once the run is terminal
        third = client.runs.create(thread_id, "sleeper", input={"seconds": 60})
        _wait_status(client, thread_id, third["run_id"], "running")
        client.runs.cancel(thread_id, third["run_id"], wait=True)
        assert _status(client, thread_id, third["run_id"]) == "interrupted"

        # the thread is free again: a new run executes and succeeds
        after = client.runs.create(thread_id, "sleeper", input={"seconds": 0.1})
        assert client.runs.join(thread_id, after["run_id"]) == {"slept": 0.1}
        assert _status(client, thread_id, after["run_id"]) == "success"
        thread = client.threads.get(thread_id)
        assert thread["status"] == "idle"
        assert thread["values"] == {"slept": 0.1}


def test_runs_on_one_thread_execute_in_creation_order(stack: Stack, ledger: Path) -> None:
    """Driven with the async client: three runs created back to back on one thread, with two
    worker processes that could otherwise take them at the same time."""
    web = stack.web()
    stack.worker()
    stack.worker()

    async def scenario() -> list[str]:
        async with get_client(url=web.url) as client:
            thread_id = (await client.threads.create())["thread_id"]
            run_ids = []
            for i in range(3):
                run = await client.runs.create(thread_id, "ledger", input={"sleep": 0.3, "echo": i})
                run_ids.append(run["run_id"])
            outputs = await asyncio.gather(
                *(client.runs.join(thread_id, run_id) for run_id in run_ids)
            )
            assert outputs == [{"ok": True, "echo": i} for i in range(3)]
            for run_id in run_ids:
                assert (await client.runs.get(thread_id, run_id))["status"] == "success"
            assert (await client.threads.get(thread_id))["status"] == "idle"
            return run_ids

    run_ids = asyncio.run(scenario())
    events = [(run_id, event) for run_id, _, _, event in read_ledger(ledger)]
    # each run starts only after the previous one ended (the ledger is in time order)
    assert events == [(run_id, ev) for run_id in run_ids for ev in ("start", "end")]


def test_200_concurrent_runs_each_execute_exactly_once(stack: Stack, ledger: Path) -> None:
    web = stack.web()
    stack.worker()
    stack.worker()
    n = 200
    with get_sync_client(url=web.url) as client:
        threads = [client.threads.create()["thread_id"] for _ in range(10)]

        def create(i: int) -> tuple[int, dict]:
            body = {"input": {"echo": i}}
            if i % 3 == 0:
                return i, client.runs.create(threads[i % len(threads)], "ledger", **body)
            if i % 3 == 1:
                return i, client.runs.create(None, "ledger", **body)
            return i, client.runs.create(None, "ledger", on_completion="keep", **body)

        with ThreadPoolExecutor(max_workers=20) as pool:
            created = list(pool.map(create, range(n)))
            assert len({run["run_id"] for _, run in created}) == n

            def join(item: tuple[int, dict]) -> Any:
                _, run = item
                return client.runs.join(run["thread_id"], run["run_id"])

            outputs = list(pool.map(join, created))

        assert outputs == [{"ok": True, "echo": i} for i, _ in created]
        for i, run in created:
            if i % 3 != 1:  # still stored (on a thread, or stateless kept)
                assert _status(client, run["thread_id"], run["run_id"]) == "success"
        for thread_id in threads:
            assert client.threads.get(thread_id)["status"] == "idle"

    counts = executions(ledger)
    assert counts == {run["run_id"]: 1 for _, run in created}
    ends = Counter(r[0] for r in read_ledger(ledger) if r[3] == "end")
    assert ends == counts
    # both worker processes took part
    assert len({pid for _, _, pid, _ in read_ledger(ledger)}) == 2
