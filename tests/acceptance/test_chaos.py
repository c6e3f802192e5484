"""Chaos: thousands of runs while worker processes are SIGKILLed and replaced at random and Redis
is restarted; then Postgres and the ledger must show that no run was lost, none is stuck, none
completed twice, and no run was executed by two workers at once for longer than it takes a
worker to notice that it lost its lease. A run may end as ``error`` (MaxAttemptsExceeded) only
if every one of its attempts was killed. Redis and Postgres are servers of the test's own.

The figures (runs, kills, restarts, requeues, duplicates suppressed, time to drain) are printed
and written to ``bench/results/chaos-<time>.json``. ``CALLBOARD_CHAOS_SEED`` replays a schedule;
``CALLBOARD_CHAOS_RUNS`` changes the number of runs (default 2000).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import json
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from app.config import Settings
from tests.support import (
    ROOT,
    LedgerEntry,
    PostgresCluster,
    Proc,
    RedisServer,
    Stack,
    read_ledger_timed,
    wait_for,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]

RUNS = int(os.environ.get("CALLBOARD_CHAOS_RUNS", "2000"))
WINDOW = 1.0  # heartbeat window (seconds)
SWEEP = 1.0  # sweeper period (seconds)
WORKERS = 2  # worker processes alive at once (one is replaced as soon as it is killed)
KILL_EVERY = (2.0, 5.0)  # seconds between two kills, drawn uniformly
REDIS_RESTART_EVERY = 4  # one chaos event in this many restarts Redis instead
REDIS_DOWN = (0.3, 2.0)  # seconds Redis stays down
SHARED_THREADS = 20  # one run in ten goes to one of these threads (runs queue up behind others)
# a live worker notices a lost lease at its next lease check (every 2/3 of the window); with the
# latency of a loaded machine, two attempts of one run may overlap at most this long (seconds)
LEASE_LOSS_DETECTION = WINDOW


@dataclasses.dataclass
class Chaos:
    """What the chaos did, and when (Unix times, to compare with the ledger's)."""

    kills: dict[int, float] = dataclasses.field(default_factory=dict)  # pid → SIGKILL time
    redis_restarts: list[float] = dataclasses.field(default_factory=list)
    errors: list[BaseException] = dataclasses.field(default_factory=list)
    ended_at: float = 0.0  # when every run was terminal


def _create_all(url: str, rng: random.Random, created: list[dict], failures: list[str]) -> None:
    """Create ``RUNS`` runs over HTTP from 8 clients: stateless kept runs, and one in ten on a
    shared thread; no client-side retry, every answer must be a 200."""
    sleeps = [0, 0, 0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
    with httpx.Client(base_url=url, timeout=120) as http:
        threads = [
            http.post("/threads", json={}).json()["thread_id"] for _ in range(SHARED_THREADS)
        ]
        plan = [
            (i, rng.choice(sleeps), rng.choice(threads) if rng.random() < 0.1 else None)
            for i in range(RUNS)
        ]

        def create(item: tuple[int, float, str | None]) -> None:
            i, sleep, thread_id = item
            body: dict[str, Any] = {"assistant_id": "ledger", "input": {"sleep": sleep, "echo": i}}
            path = f"/threads/{thread_id}/runs" if thread_id else "/runs"
            if not thread_id:
                body["on_completion"] = "keep"
            try:
                response = http.post(path, json=body)
            except httpx.HTTPError as exc:
                failures.append(f"POST {path}: {exc!r}")
                return
            if response.status_code != 200:
                failures.append(f"POST {path}: {response.status_code} {response.text}")
                return
            created.append({**response.json(), "echo": i})

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, plan))


def _open_runs(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM runs WHERE status IN ('pending', 'running')"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _live_workers(stack: Stack) -> list[Proc]:
    return [p for p in stack.procs if p.name == "worker" and p.alive()]


def _unleash(
    stack: Stack, server: RedisServer, rng: random.Random, stop: threading.Event, chaos: Chaos
) -> None:
    """Until ``stop``: every 2–5 s, SIGKILL a random worker and start another (or, one time in
    ``REDIS_RESTART_EVERY``, restart Redis)."""
    try:
        event = 0
        while not stop.wait(rng.uniform(*KILL_EVERY)):
            event += 1
            if event % REDIS_RESTART_EVERY == 0:
                chaos.redis_restarts.append(time.time())
                server.restart(down_seconds=rng.uniform(*REDIS_DOWN))
                continue
            live = _live_workers(stack)
            if live:
                victim = rng.choice(live)
                victim.kill()
                chaos.kills[victim.pid] = time.time()
            while len(_live_workers(stack)) < WORKERS:
                stack.worker(wait=False)
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        chaos.errors.append(exc)


def _sweeper_totals(log: str) -> dict[str, int]:
    totals: collections.Counter[str] = collections.Counter()
    for match in re.finditer(r"sweep: SweepReport\(([^)]*)\)", log):
        for field, value in re.findall(r"(\w+)=(\w+)", match.group(1)):
            if value.isdigit():
                totals[field] += int(value)
    return dict(totals)


def _attempts(entries: list[LedgerEntry], kills: dict[int, float], end_of_test: float):
    """Per run, each attempt's ``(pid, attempt, started, stopped, how)``: stopped at its ``end``
    or ``cancel`` line, else when its process was killed, else (unexplained) at the end of the
    test."""
    open_: dict[tuple[str, int, int], LedgerEntry] = {}
    out: dict[str, list[tuple[int, int, float, float, str]]] = collections.defaultdict(list)
    for e in entries:
        key = (e.run_id, e.attempt, e.pid)
        if e.event == "start":
            open_[key] = e
        elif key in open_:
            start = open_.pop(key)
            out[e.run_id].append((e.pid, e.attempt, start.at, e.at, e.event))
    for (run_id, attempt, pid), start in open_.items():
        if pid in kills:
            out[run_id].append((pid, attempt, start.at, kills[pid], "killed"))
        else:
            out[run_id].append((pid, attempt, start.at, end_of_test, "unexplained"))
    return out


def test_chaos_no_run_lost_stuck_or_completed_twice(
    settings: Settings, tmp_path: Path, ledger: Path
) -> None:
    seed = int(os.environ.get("CALLBOARD_CHAOS_SEED", str(random.SystemRandom().randrange(10**6))))
    rng = random.Random(seed)
    print(f"\nchaos seed {seed} (CALLBOARD_CHAOS_SEED={seed} replays the schedule)")
    # servers of its own: Redis is restarted, and the shared Postgres has other tests' clients
    server = RedisServer(tmp_path).start()
    cluster = PostgresCluster().start()
    stack = Stack(
        dataclasses.replace(
            settings,
            database_url=cluster.create_database("callboard"),
            redis_url=server.url(0),
            heartbeat_seconds=WINDOW,
            sweep_interval_seconds=SWEEP,
            n_jobs_per_worker=10,
        ),
        tmp_path,
        extra_env={"CALLBOARD_TEST_LEDGER": str(ledger), "LOG_LEVEL": "DEBUG"},
    )
    chaos = Chaos()
    stop = threading.Event()
    try:
        web = stack.web()
        sweeper = stack.sweeper()
        for _ in range(WORKERS):
            stack.worker()

        created: list[dict] = []
        failures: list[str] = []
        t0 = time.monotonic()
        monkey = threading.Thread(target=_unleash, args=(stack, server, rng, stop, chaos))
        monkey.start()
        _create_all(web.url, rng, created, failures)
        created_after = time.monotonic() - t0
        # keep the chaos going while the backlog drains, then let the last of it settle
        wait_for(
            lambda: _open_runs(stack.settings.database_url) < RUNS // 20 or chaos.errors,
            timeout=300,
            interval=0.5,
            what="most of the backlog drained under chaos",
        )
        stop.set()
        monkey.join(timeout=60)
        assert not chaos.errors, chaos.errors
        while len(_live_workers(stack)) < WORKERS:
            stack.worker(wait=False)
        for proc in _live_workers(stack):
            stack.wait_ready(proc)
        wait_for(
            lambda: _open_runs(stack.settings.database_url) == 0,
            timeout=240,
            interval=0.5,
            what="every run terminal (none stuck)",
        )
        drained_after = time.monotonic() - t0
        chaos.ended_at = time.time()
        assert sweeper.alive() and web.alive()
    finally:
        stop.set()
        stack.stop_all()
        server.stop()

    try:
        figures = _check_and_measure(stack, settings, ledger, chaos, seed, created, failures)
    finally:
        cluster.destroy()
    figures["create_seconds"] = round(created_after, 1)
    figures["drain_seconds"] = round(drained_after - created_after, 1)
    figures["total_seconds"] = round(drained_after, 1)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"chaos-{datetime.datetime.now(datetime.UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {path}")


def _check_and_measure(
    stack: Stack,
    settings: Settings,
    ledger: Path,
    chaos: Chaos,
    seed: int,
    created: list[dict],
    failures: list[str],
) -> dict[str, Any]:
    """The assertions on what Postgres and the ledger say after the chaos; returns the figures."""
    sweeper = next(p for p in stack.procs if p.name == "sweeper")

    # --- no run lost: every run the API accepted is in Postgres, terminal ----------------------
    assert failures == []
    assert len(created) == RUNS
    run_ids = [r["run_id"] for r in created]
    assert len(set(run_ids)) == RUNS
    with psycopg.connect(stack.settings.database_url, row_factory=dict_row) as conn:
        rows = {
            str(r["run_id"]): r
            for r in conn.execute("SELECT * FROM runs WHERE run_id = ANY(%s)", (run_ids,))
        }
    assert set(rows) == set(run_ids)
    statuses = collections.Counter(r["status"] for r in rows.values())

    entries = read_ledger_timed(ledger)
    attempts = _attempts(entries, chaos.kills, chaos.ended_at)
    logs = "".join(p.output() for p in stack.procs if p.name == "worker")
    fenced = set(re.findall(r"run '([0-9a-f-]+)': lease lost", logs))

    # a run that used up its attempts did so because each of them was killed
    gave_up = [r for r in rows.values() if r["status"] != "success"]
    for row in gave_up:
        run_id = str(row["run_id"])
        assert row["status"] == "error" and row["error"]["error"] == "MaxAttemptsExceeded", row
        assert {how for *_, how in attempts[run_id]} == {"killed"}, attempts[run_id]

    # --- none completed twice ---------------------------------------------------------------------
    # A run's work reached its end at least once (an attempt may also take over the finished
    # task of a killed one from its checkpoint: LangGraph's resume, so no `end` of its own);
    # the result recorded is the run's; any further `end` belongs to an attempt that was killed
    # before it could record it, or that was fenced off (lease lost: its result discarded).
    echo = {r["run_id"]: r["echo"] for r in created}
    ends: dict[str, list[LedgerEntry]] = collections.defaultdict(list)
    for e in entries:
        if e.event == "end":
            ends[e.run_id].append(e)
    suppressed_completions = 0
    for run_id, row in rows.items():
        if row["status"] == "success":
            assert ends[run_id], f"run {run_id} succeeded without executing"
            assert row["output"] == {"ok": True, "echo": echo[run_id]}, row
        unexplained = [
            e
            for e in ends[run_id]
            if not (e.pid in chaos.kills and chaos.kills[e.pid] >= e.at) and run_id not in fenced
        ]
        assert len(unexplained) <= 1, f"run {run_id} completed twice: {ends[run_id]}"
        suppressed_completions += max(len(ends[run_id]) - 1, 0)

    # --- no two attempts at once beyond the lease-loss detection window -------------------------
    overlaps = []
    for run_id, spans in attempts.items():
        assert all(how != "unexplained" for *_, how in spans), (run_id, spans)
        for i, (pid_a, _, start_a, stop_a, _) in enumerate(spans):
            for pid_b, _, start_b, stop_b, _ in spans[i + 1 :]:
                overlap = min(stop_a, stop_b) - max(start_a, start_b)
                if pid_a != pid_b and overlap > 0:
                    overlaps.append((overlap, run_id))
    worst = max(overlaps, default=(0.0, None))
    assert worst[0] <= LEASE_LOSS_DETECTION, (worst, attempts[worst[1]])

    # --- figures ----------------------------------------------------------------------------------
    sweeps = _sweeper_totals(sweeper.output())
    starts = sum(1 for e in entries if e.event == "start")
    figures = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "config": {
            "runs": RUNS,
            "heartbeat_seconds": WINDOW,
            "sweep_interval_seconds": SWEEP,
            "workers": WORKERS,
            "jobs_per_worker": 10,
            "max_attempts": settings.max_attempts,
            "cpus": os.cpu_count(),
        },
        "runs": RUNS,
        "statuses": dict(statuses),
        "worker_kills": len(chaos.kills),
        "redis_restarts": len(chaos.redis_restarts),
        "worker_processes": sum(1 for p in stack.procs if p.name == "worker"),
        "requeued_by_sweeper": sweeps.get("requeued", 0),
        "gave_up_by_sweeper": sweeps.get("failed", 0),
        "resent_by_sweeper": sweeps.get("resent", 0),
        "executions": starts,
        "re_executions": starts - RUNS,
        "max_attempt": max(r["attempt"] for r in rows.values()),
        "duplicates_suppressed": {
            "messages_dropped_at_claim": logs.count("not claimed (duplicate, stale"),
            "stale_attempts_fenced": len(fenced),
            "late_completions_discarded": suppressed_completions,
        },
        "max_overlap_seconds": round(worst[0], 3),
    }
    assert chaos.kills and chaos.redis_restarts  # the chaos did happen
    assert figures["requeued_by_sweeper"] > 0
    return figures
