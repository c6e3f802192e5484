"""Operations against real gunicorn, worker and sweeper processes: JSON logs with a run's fields
and the levels each process honours, the access log switch, the sweeper's named and quiet jobs;
join's and streams' keep-alives under gunicorn as the SDK reads them; ``/metrics`` summed over
several gunicorn processes and the workers' presence."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Proc, Stack, wait_for


@pytest.fixture
def sdk() -> Any:
    """``sdk(url)``: the official sync client, closed at the end of the test."""
    clients: list[Any] = []

    def make(url: str) -> Any:
        clients.append(get_sync_client(url=url))
        return clients[-1]

    yield make
    for client in clients:
        client.http.client.close()

pytestmark = pytest.mark.timeout(240)


def json_lines(proc: Proc) -> list[dict[str, Any]]:
    """The process's log lines, each of which must be a JSON object (the ready line excepted)."""
    out = []
    for line in proc.output().splitlines():
        if not line.strip() or line.startswith("callboard "):  # print()ed ready lines
            continue
        out.append(json.loads(line))
    return out


def metric(url: str, name: str, **labels: str) -> float | None:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def test_json_logs_with_run_fields_levels_and_access_log(stack: Stack, sdk: Any) -> None:
    web = stack.web(LOG_FORMAT="json")
    quiet_web = stack.web(LOG_FORMAT="json", CALLBOARD_ACCESS_LOG="0")
    warning_web = stack.web(LOG_LEVEL="WARNING")
    worker = stack.worker(LOG_FORMAT="json")
    client = sdk(web.url)
    thread = client.threads.create()
    run = client.runs.create(thread["thread_id"], "ledger", input={"echo": 1})
    assert client.runs.join(thread["thread_id"], run["run_id"])["echo"] == 1

    def ended() -> dict | None:
        return next(
            (
                line
                for line in json_lines(worker)
                if line.get("run_id") == run["run_id"] and "duration" in line
            ),
            None,
        )

    end = wait_for(ended, timeout=10, what="the run's end line")
    assert end["message"] == f"run {run['run_id']!r}: success in {end['duration']:.3f} s"
    assert end["thread_id"] == thread["thread_id"]
    assert (end["graph_id"], end["attempt"], end["level"]) == ("ledger", 1, "INFO")
    claimed = [
        line
        for line in json_lines(worker)
        if line.get("run_id") == run["run_id"] and "claimed" in line["message"]
    ]
    assert claimed and claimed[0]["graph_id"] == "ledger"

    path = f"/threads/{thread['thread_id']}/runs"
    access = [
        line
        for line in json_lines(web)
        if line["logger"] == "callboard.access" and line.get("path") == path
    ]
    assert access and (access[0]["method"], access[0]["status"]) == ("POST", 200)
    assert access[0]["duration"] >= 0

    for other in (quiet_web, warning_web):
        assert httpx.get(f"{other.url}/info").status_code == 200
    assert not [line for line in json_lines(quiet_web) if line["logger"] == "callboard.access"]
    assert "/info" not in warning_web.output()  # access lines are INFO


def test_sweeper_jobs_are_named_and_the_executor_quiet(stack: Stack) -> None:
    debug = stack.sweeper(LOG_LEVEL="DEBUG", CRON_INTERVAL_SECONDS="0.2")
    info = stack.sweeper(CRON_INTERVAL_SECONDS="0.2")
    # both tick every 0.2 s: once the DEBUG one shows 10 runs of the cron job, the INFO one has
    # run about as many, and printed none of them
    wait_for(
        lambda: debug.output().count('Running job "crons') >= 10,
        timeout=30,
        what="10 cron ticks",
    )
    assert "<locals>" not in debug.output()
    assert 'Running job "sweep' in debug.output()
    assert "Running job" not in info.output()
    assert "executed successfully" not in info.output()
    assert "<locals>" not in info.output()


def test_join_and_stream_keep_alives_as_the_sdk_reads_them(stack: Stack, sdk: Any) -> None:
    web = stack.web()
    stack.worker()
    client = sdk(web.url)
    thread = client.threads.create()["thread_id"]
    run = client.runs.create(thread, "sleeper", input={"seconds": 7})
    started = time.monotonic()
    with httpx.stream(
        "GET", f"{web.url}/threads/{thread}/runs/{run['run_id']}/join", timeout=30
    ) as resp:
        chunks = resp.iter_raw()
        first = next(chunks)
        first_at = time.monotonic() - started
        body = first + b"".join(chunks)
    ended_at = time.monotonic() - started
    assert first.strip() == b""  # a keep-alive came first
    assert first_at < 6.5 < ended_at  # within the wait keep-alive period, before the end
    assert json.loads(body) == {"slept": 7.0}

    # the SDK parses a join that began with keep-alives
    run2 = client.runs.create(thread, "sleeper", input={"seconds": 6})
    assert client.runs.join(thread, run2["run_id"]) == {"slept": 6.0}

    # SSE: a comment line while the run is silent; the SDK skips it
    run3 = client.runs.create(thread, "sleeper", input={"seconds": 6})
    with httpx.stream(
        "GET", f"{web.url}/threads/{thread}/runs/{run3['run_id']}/stream", timeout=30
    ) as resp:
        lines = list(resp.iter_lines())
    assert any(line.startswith(":") for line in lines)
    run4 = client.runs.create(thread, "sleeper", input={"seconds": 6})
    parts = list(client.runs.join_stream(thread, run4["run_id"]))
    assert {p.event for p in parts} <= {"metadata", "values", "updates", "end"}, parts


def test_metrics_summed_over_gunicorn_processes_and_workers(
    stack: Stack, sdk: Any, tmp_path: Any
) -> None:
    metrics_dir = tmp_path / "metrics"
    web = stack.web(workers=3, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    with ThreadPoolExecutor(12) as pool:  # concurrent: the three processes all take some
        codes = list(pool.map(lambda _: httpx.get(f"{web.url}/ok").status_code, range(60)))
    assert codes == [200] * 60
    writers = {p.name for p in metrics_dir.glob("histogram_*.db")}
    assert len(writers) >= 2, writers  # several processes recorded requests

    def ok_count() -> float | None:
        return metric(
            web.url,
            "callboard_http_request_duration_seconds_count",
            method="GET",
            route="/ok",
            status="200",
        )

    counts = {ok_count() for _ in range(6)}  # whichever process answers, the same sum
    assert len(counts) == 1
    assert counts.pop() >= 60  # the readiness probe adds its own

    stack.worker(N_JOBS_PER_WORKER="3")
    stack.worker(N_JOBS_PER_WORKER="2")
    wait_for(
        lambda: metric(web.url, "lg_api_workers_max") == 5, timeout=15, what="5 worker slots"
    )
    client = sdk(web.url)
    thread = client.threads.create()["thread_id"]
    run = client.runs.create(thread, "sleeper", input={"seconds": 30})
    wait_for(
        lambda: metric(web.url, "lg_api_workers_active") == 1
        and metric(web.url, "lg_api_num_running_runs") == 1,
        timeout=15,
        what="one active run",
    )
    assert metric(web.url, "lg_api_workers_available") == 4
    client.runs.cancel(thread, run["run_id"], wait=True)
    wait_for(
        lambda: metric(
            web.url,
            "callboard_run_duration_seconds_count",
            graph_id="sleeper",
            status="interrupted",
        )
        == 1,
        timeout=15,
        what="the cancelled run in the duration histogram",
    )
