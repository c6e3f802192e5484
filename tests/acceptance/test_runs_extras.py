"""Run creation extras end to end, through both ``langgraph_sdk`` clients against real ``web``,
``worker`` and ``sweeper`` processes: delayed start (``after_seconds``), ``POST /runs/batch``,
``Idempotency-Key`` retries (sequential and concurrent, on every create variant),
``if_not_exists`` and ``on_completion``, and bad input (a 4xx JSON answer, nothing written).

Executions are counted with the ``ledger`` test graph, which appends a timed line per start and
end of an attempt, so "executed once" and "not started before" are facts, not inferences.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from tests.sdk_clients import CLIENT_KINDS, open_client
from tests.support import Stack, executions, read_ledger_timed, wait_for

pytestmark = pytest.mark.timeout(240)


def counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("runs", "threads", "run_idempotency_keys", "webhook_deliveries")
        }


def started_at(ledger: Path, run_id: str) -> float:
    return next(
        e.at for e in read_ledger_timed(ledger) if e.run_id == run_id and e.event == "start"
    )


def ended_at(ledger: Path, run_id: str) -> float:
    return next(e.at for e in read_ledger_timed(ledger) if e.run_id == run_id and e.event == "end")


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_delayed_start_waits_and_holds_up_no_later_run(
    stack: Stack, ledger: Path, kind: str
) -> None:
    web = stack.web()
    stack.worker()
    stack.sweeper()  # re-sends pending runs every second: it must leave a delayed one alone
    delay = 2.5
    with open_client(kind, web.url) as client:
        tid = client.threads.create()["thread_id"]
        before = time.time()
        delayed = client.runs.create(tid, "ledger", input={"echo": 1}, after_seconds=delay)
        assert delayed["status"] == "pending"
        later = client.runs.create(tid, "ledger", input={"echo": 2})["run_id"]
        assert client.runs.join(tid, later) == {"ok": True, "echo": 2}
        assert client.runs.get(tid, delayed["run_id"])["status"] == "pending"
        assert client.runs.join(tid, delayed["run_id"]) == {"ok": True, "echo": 1}
        # the wait variant too: answers once the delayed run has run
        started = time.time()
        assert client.runs.wait(tid, "ledger", input={"echo": 3}, after_seconds=1) == {
            "ok": True,
            "echo": 3,
        }
        assert time.time() - started >= 1.0

    assert started_at(ledger, delayed["run_id"]) >= before + delay
    assert ended_at(ledger, later) < started_at(ledger, delayed["run_id"])
    assert set(executions(ledger).values()) == {1}


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_batch_creates_all_runs_or_none(
    stack: Stack, ledger: Path, database_url: str, kind: str
) -> None:
    web = stack.web()
    stack.worker()
    with open_client(kind, web.url) as client:
        tid = client.threads.create()["thread_id"]
        runs = client.runs.create_batch(
            [
                {"assistant_id": "ledger", "input": {"echo": 1}},
                {"assistant_id": "noop", "input": {"a": 1}, "metadata": {"m": 2}},
                {"assistant_id": "ledger", "input": {"echo": 3}, "thread_id": tid},
            ]
        )
        assert [r["status"] for r in runs] == ["pending"] * 3
        assert runs[2]["thread_id"] == tid and runs[0]["thread_id"] != runs[1]["thread_id"]
        assert runs[1]["metadata"]["m"] == 2
        outputs = [client.runs.join(r["thread_id"], r["run_id"]) for r in runs]
        assert outputs == [{"ok": True, "echo": 1}, {"a": 1}, {"ok": True, "echo": 3}]

        # a retried batch with an Idempotency-Key gets the same runs
        headers = {"Idempotency-Key": f"batch-{uuid.uuid4()}"}
        items = [
            {"assistant_id": "noop", "input": {"n": n}, "on_completion": "keep"} for n in (0, 1)
        ]
        twice = [client.runs.create_batch(items, headers=headers) for _ in "ab"]
        assert [r["run_id"] for r in twice[0]] == [r["run_id"] for r in twice[1]]
        assert len({r["run_id"] for r in twice[0]}) == 2
        assert [client.runs.join(r["thread_id"], r["run_id"]) for r in twice[1]] == [
            {"n": 0},
            {"n": 1},
        ]

        before = counts(database_url)
        ledger_run = {"assistant_id": "ledger"}
        bad_batches = [
            ([ledger_run, {"assistant_id": "no-such-graph"}], UnprocessableEntityError),
            ([ledger_run, {**ledger_run, "bogus": 1}], UnprocessableEntityError),
            ([ledger_run, {**ledger_run, "after_seconds": "x"}], UnprocessableEntityError),
            ([ledger_run, {**ledger_run, "thread_id": str(uuid.uuid4())}], NotFoundError),
            ([], UnprocessableEntityError),
        ]
        for batch, error in bad_batches:
            with pytest.raises(error):
                client.runs.create_batch(batch)
        assert counts(database_url) == before  # not even the valid first item was written
    assert executions(ledger) == {runs[0]["run_id"]: 1, runs[2]["run_id"]: 1}


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_idempotency_key_retries_get_the_same_run(
    stack: Stack, ledger: Path, database_url: str, kind: str
) -> None:
    web = stack.web()
    stack.worker()

    def key() -> dict[str, str]:
        return {"Idempotency-Key": f"retry-{uuid.uuid4()}"}

    with open_client(kind, web.url) as client:
        tid = client.threads.create()["thread_id"]

        headers = key()
        first = client.runs.create(tid, "ledger", input={"echo": 1}, headers=headers)
        again = client.runs.create(tid, "ledger", input={"echo": 1}, headers=headers)
        assert again["run_id"] == first["run_id"]
        client.runs.join(tid, first["run_id"])
        after_end = client.runs.create(tid, "ledger", input={"echo": 1}, headers=headers)
        assert (after_end["run_id"], after_end["status"]) == (first["run_id"], "success")

        headers = key()  # the wait variant, on a thread and stateless (its thread deleted)
        assert client.runs.wait(tid, "ledger", input={"echo": 2}, headers=headers) == {
            "ok": True,
            "echo": 2,
        }
        assert client.runs.wait(tid, "ledger", input={"echo": 2}, headers=headers)["echo"] == 2
        headers = key()
        assert client.runs.wait(None, "ledger", input={"echo": 3}, headers=headers)["echo"] == 3
        assert client.runs.wait(None, "ledger", input={"echo": 3}, headers=headers)["echo"] == 3

        headers = key()  # the stream variant: both streams are the same run's
        parts = [
            client.runs.stream(None, "ledger", input={"echo": 4}, headers=headers) for _ in "ab"
        ]
        metadata = [next(p.data for p in ps if p.event == "metadata") for ps in parts]
        assert metadata[0]["run_id"] == metadata[1]["run_id"]

        # (stateless runs of this test may still be deleting their threads: count this thread's)
        before = (len(client.runs.list(tid)), counts(database_url)["run_idempotency_keys"])
        with pytest.raises(UnprocessableEntityError) as reused:  # same key, another body
            client.runs.create(tid, "ledger", input={"echo": 99}, headers=headers)
        assert "Idempotency-Key" in reused.value.response.json()["detail"]
        with pytest.raises(UnprocessableEntityError):
            client.runs.create(tid, "ledger", input={}, headers={"Idempotency-Key": "k" * 256})
        assert (len(client.runs.list(tid)), counts(database_url)["run_idempotency_keys"]) == before

    # concurrent retries of one request: one run, answered to all of them
    headers = {"Idempotency-Key": f"storm-{uuid.uuid4()}"}
    with httpx.Client(base_url=web.url, timeout=60) as http, ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: http.post(
                    "/runs", json={"assistant_id": "ledger", "input": {"echo": 5}}, headers=headers
                ),
                range(8),
            )
        )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["run_id"] for a in answers}) == 1
    storm = answers[0].json()["run_id"]
    wait_for(lambda: executions(ledger).get(storm) == 1, timeout=60, what="the storm's run")

    ran = executions(ledger)
    assert set(ran.values()) == {1}  # every run executed exactly once
    assert len(ran) == 5  # create, wait on a thread, wait stateless, stream, storm: no more
    assert counts(database_url)["run_idempotency_keys"] == 5


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_if_not_exists_and_on_completion(stack: Stack, kind: str) -> None:
    web = stack.web()
    stack.worker()
    with open_client(kind, web.url) as client:
        tid = str(uuid.uuid4())
        with pytest.raises(NotFoundError):
            client.runs.create(tid, "ledger", input={})
        with pytest.raises(NotFoundError):
            client.runs.create(tid, "ledger", input={}, if_not_exists="reject")
        run = client.runs.create(tid, "ledger", input={"echo": 1}, if_not_exists="create")
        assert client.runs.join(tid, run["run_id"]) == {"ok": True, "echo": 1}
        assert client.threads.get(tid)["thread_id"] == tid

        kept = client.runs.create(None, "ledger", input={"echo": 2}, on_completion="keep")
        client.runs.join(kept["thread_id"], kept["run_id"])
        assert client.runs.get(kept["thread_id"], kept["run_id"])["status"] == "success"
        assert client.threads.get(kept["thread_id"])["values"] == {"ok": True, "echo": 2}

        deleted = client.runs.create(None, "ledger", input={"echo": 3})  # default: delete
        assert client.runs.join(deleted["thread_id"], deleted["run_id"]) == {"ok": True, "echo": 3}

        def thread_gone() -> bool:
            try:
                client.threads.get(deleted["thread_id"])
            except NotFoundError:
                return True
            return False

        wait_for(thread_gone, timeout=30, what="the temporary thread deleted")


BAD = [
    ("/threads/{t}/runs", {"assistant_id": "ledger", "after_seconds": "5"}, 422, "after_seconds"),
    ("/threads/{t}/runs", {"assistant_id": "ledger", "after_seconds": -1}, 422, "after_seconds"),
    ("/threads/{t}/runs", {"assistant_id": "ledger", "after_seconds": True}, 422, "after_seconds"),
    ("/threads/{t}/runs", {"assistant_id": "ledger", "after_seconds": None}, 422, "after_seconds"),
    ("/runs", {"assistant_id": "ledger", "after_seconds": 10**12}, 422, "after_seconds"),
    ("/threads/{t}/runs", {"assistant_id": "ledger", "multitask_strategy": "x"}, 422, "multitask"),
    ("/threads/{t}/runs", {"assistant_id": "ledger", "multitask_strategy": 1}, 422, "multitask"),
    ("/runs/batch", {"assistant_id": "ledger"}, 422, "Invalid input type"),  # not a list
    ("/runs/batch", [{"assistant_id": "ledger", "thread_id": "nope"}], 422, "thread_id"),
    ("/runs/batch", [{"assistant_id": "ledger"}, "x"], 422, "1._schema: Invalid input type"),
    ("/runs/cancel", {}, 422, "status"),
    ("/runs/cancel", {"status": "done"}, 422, "status"),
    ("/runs/cancel", {"thread_id": "nope", "run_ids": []}, 422, "thread_id"),
    ("/runs/cancel", {"thread_id": "{t}", "run_ids": ["nope"]}, 422, "run_ids"),
    ("/runs/cancel", {"thread_id": "{t}", "run_ids": "x"}, 422, "run_ids"),
    ("/runs/cancel", {"status": "all", "extra": 1}, 422, "extra"),
    ("/runs/cancel?action=explode", {"status": "all"}, 422, "action"),
]


def test_bad_input_is_a_4xx_json_and_writes_nothing(stack: Stack, database_url: str) -> None:
    web = stack.web()
    with httpx.Client(base_url=web.url, timeout=30) as http:
        tid = http.post("/threads", json={}).json()["thread_id"]
        pending = http.post(f"/threads/{tid}/runs", json={"assistant_id": "ledger"}).json()
        before = counts(database_url)
        for path, body, status, word in BAD:
            filled = json_fill(body, tid)
            resp = http.post(path.replace("{t}", tid), json=filled)
            assert resp.status_code == status, (path, body, resp.text)
            assert word in resp.json()["detail"], (path, body, resp.text)
        for value in (b"", "é".encode(), b"k" * 256, b"tab\tinside"):
            resp = http.post(
                f"/threads/{tid}/runs",
                json={"assistant_id": "ledger"},
                headers={b"Idempotency-Key": value},
            )
            assert resp.status_code == 422 and "Idempotency-Key" in resp.json()["detail"]
        assert counts(database_url) == before
        run = http.get(f"/threads/{tid}/runs/{pending['run_id']}").json()
        assert run["status"] == "pending"  # no bad cancel touched it


def json_fill(body: Any, thread_id: str) -> Any:
    if isinstance(body, dict):
        return {k: json_fill(v, thread_id) for k, v in body.items()}
    if isinstance(body, list):
        return [json_fill(v, thread_id) for v in body]
    return thread_id if body == "{t}" else body
