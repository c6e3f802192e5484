"""Chaos: thousands of runs while worker processes are SIGKILLed and replaced at random and Redis
is restarted; one worker is cut from Redis (not from Postgres) for longer than the heartbeat
window, through a TCP proxy the test controls; some runs hold the GIL, or block their worker's
event loop, longer than the window in their first attempt; some have a webhook whose receiver
tarpits; and Postgres goes down for 60 s while the backlog drains. Then Postgres and the ledger
must show that no run was lost, none is stuck, none failed (a run may end ``error``,
MaxAttemptsExceeded, only if every one of its attempts was killed), no attempt of a run was
executed twice (counted per attempt from the ledger), and no run was executed by two workers at
once for longer than it takes a worker to notice that it lost its lease (a frozen process, between
a fault's ``freeze`` and ``thaw``, executes nothing). Redis and Postgres are servers of the test's
own.

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
    Tarpit,
    TcpProxy,
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
MAX_ATTEMPTS = 10  # frozen workers lose every run they hold: attempts go faster than kills alone
FREEZE = 2.5 * WINDOW  # how long a fault run holds the GIL or blocks its loop (attempt 1 only)
FAULT_RUNS = 0.005  # share of the runs that hold the GIL, and as many that block their loop
WEBHOOK_RUNS = 0.02  # share of the runs whose webhook receiver tarpits
CUT_EVERY = 15.0  # seconds between two cuts of the partitioned worker from Redis
CUT_FOR = 3 * WINDOW  # how long each cut lasts (seconds)
POSTGRES_DOWN = 60.0  # one Postgres outage while the backlog drains (seconds)
# a live worker notices a lost lease at its next lease check (every 2/3 of the window); with the
# latency of a loaded machine, two attempts of one run may overlap at most this long (seconds)
LEASE_LOSS_DETECTION = WINDOW


@dataclasses.dataclass
class Chaos:
    """What the chaos did, and when (Unix times, to compare with the ledger's)."""

    kills: dict[int, float] = dataclasses.field(default_factory=dict)  # pid → SIGKILL time
    redis_restarts: list[float] = dataclasses.field(default_factory=list)
    redis_cuts: list[float] = dataclasses.field(default_factory=list)  # of the partitioned worker
    postgres_down: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    errors: list[BaseException] = dataclasses.field(default_factory=list)
    ended_at: float = 0.0  # when every run was terminal


def _create_all(
    url: str, rng: random.Random, created: list[dict], failures: list[str], tarpit_url: str
) -> None:
    """Create ``RUNS`` runs over HTTP from 8 clients: stateless kept runs, and one in ten on a
    shared thread, a few with a fault or a tarpit webhook; no client-side retry, every answer
    must be a 200."""
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
            graph_input: dict[str, Any] = {"sleep": sleep, "echo": i}
            draw = rng.random()
            if draw < FAULT_RUNS:
                graph_input["hold_gil"] = FREEZE
            elif draw < 2 * FAULT_RUNS:
                graph_input["block"] = FREEZE
            body: dict[str, Any] = {"assistant_id": "ledger", "input": graph_input}
            if rng.random() < WEBHOOK_RUNS:
                body["webhook"] = tarpit_url
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


def _live_workers(stack: Stack, spared: Proc | None = None) -> list[Proc]:
    """The live worker processes the chaos may kill (not ``spared``, the partitioned one)."""
    return [p for p in stack.procs if p.name == "worker" and p.alive() and p is not spared]


def _unleash(
    stack: Stack,
    server: RedisServer,
    rng: random.Random,
    stop: threading.Event,
    chaos: Chaos,
    partitioned: Proc,
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
            live = _live_workers(stack, partitioned)
            if live:
                victim = rng.choice(live)
                victim.kill()
                chaos.kills[victim.pid] = time.time()
            while len(_live_workers(stack, partitioned)) < WORKERS:
                stack.worker(wait=False)
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        chaos.errors.append(exc)


def _partition(proxy: TcpProxy, stop: threading.Event, chaos: Chaos) -> None:
    """Until ``stop``: every ``CUT_EVERY`` s, cut the partitioned worker from Redis for
    ``CUT_FOR`` s (it still reaches Postgres)."""
    while not stop.wait(CUT_EVERY):
        chaos.redis_cuts.append(time.time())
        proxy.cut(CUT_FOR)


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
        elif e.event in ("end", "cancel") and key in open_:
            start = open_.pop(key)
            out[e.run_id].append((e.pid, e.attempt, start.at, e.at, e.event))
    for (run_id, attempt, pid), start in open_.items():
        if pid in kills:
            out[run_id].append((pid, attempt, start.at, kills[pid], "killed"))
        else:
            out[run_id].append((pid, attempt, start.at, end_of_test, "unexplained"))
    return out


def _frozen(entries: list[LedgerEntry], kills: dict[int, float], end_of_test: float):
    """Per process, the intervals ``(from, to)`` it was frozen (a fault run's ``freeze`` to its
    ``thaw``, or to the process's kill): none of its attempts executed meanwhile."""
    out: dict[int, list[tuple[float, float]]] = collections.defaultdict(list)
    began: dict[tuple[str, int, int], float] = {}
    for e in entries:
        key = (e.run_id, e.attempt, e.pid)
        if e.event == "freeze":
            began[key] = e.at
        elif e.event == "thaw" and key in began:
            out[e.pid].append((began.pop(key), e.at))
    for (_, _, pid), at in began.items():
        out[pid].append((at, kills.get(pid, end_of_test)))
    return out


def _executing_together(start: float, stop: float, frozen: list[tuple[float, float]]) -> float:
    """Seconds of ``[start, stop]`` outside the ``frozen`` intervals."""
    cuts = sorted((max(a, start), min(b, stop)) for a, b in frozen if b > start and a < stop)
    total, at = 0.0, start
    for a, b in cuts:
        total += max(a - at, 0.0)
        at = max(at, b)
    return total + max(stop - at, 0.0)


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
            max_attempts=MAX_ATTEMPTS,
        ),
        tmp_path,
        extra_env={
            "CALLBOARD_TEST_LEDGER": str(ledger),
            "LOG_LEVEL": "DEBUG",
            "CALLBOARD_WEBHOOK_ALLOW_PRIVATE": "1",
            "CALLBOARD_WEBHOOK_TIMEOUT_SECONDS": "2",
            "CALLBOARD_WEBHOOK_MAX_ATTEMPTS": "2",
            "CALLBOARD_WEBHOOK_RETRY_SECONDS": "1",
        },
    )
    chaos = Chaos()
    stop = threading.Event()
    proxy = TcpProxy(server.port)
    tarpit = Tarpit()
    try:
        web = stack.web()
        sweeper = stack.sweeper()
        for _ in range(WORKERS):
            stack.worker()
        partitioned = stack.worker(REDIS_URL=proxy.url(0))

        created: list[dict] = []
        failures: list[str] = []
        t0 = time.monotonic()
        monkey = threading.Thread(
            target=_unleash, args=(stack, server, rng, stop, chaos, partitioned)
        )
        monkey.start()
        cutter = threading.Thread(target=_partition, args=(proxy, stop, chaos))
        cutter.start()
        _create_all(web.url, rng, created, failures, tarpit.url)
        created_after = time.monotonic() - t0
        # Postgres down while the backlog drains (the API is not called meanwhile: creating
        # runs needs Postgres, and every creation must be answered 200)
        down_at = time.time()
        cluster.restart(down_seconds=POSTGRES_DOWN)
        chaos.postgres_down.append((down_at, time.time()))
        # keep the chaos going while the backlog drains, then let the last of it settle
        wait_for(
            lambda: _open_runs(stack.settings.database_url) < RUNS // 20 or chaos.errors,
            timeout=300,
            interval=0.5,
            what="most of the backlog drained under chaos",
        )
        stop.set()
        monkey.join(timeout=60)
        cutter.join(timeout=60)
        assert not chaos.errors, chaos.errors
        while len(_live_workers(stack, partitioned)) < WORKERS:
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
        proxy.close()
        tarpit.stop()
        server.stop()

    try:
        figures = _check_and_measure(stack, settings, ledger, chaos, seed, created, failures)
    finally:
        cluster.destroy()
    figures["tarpit_webhook_posts"] = tarpit.connections
    assert tarpit.connections > 0
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

    # a run that used up its attempts did so because each of them was killed: no
    # MaxAttemptsExceeded for a run that could finish
    gave_up = [r for r in rows.values() if r["status"] != "success"]
    for row in gave_up:
        run_id = str(row["run_id"])
        assert row["status"] == "error" and row["error"]["error"] == "MaxAttemptsExceeded", row
        assert {how for *_, how in attempts[run_id]} == {"killed"}, attempts[run_id]

    # --- no attempt executed twice, no execution beyond the recorded attempt ---------------------
    # Counted per attempt from the ledger, with no excuse: each claim (attempt number) of a run
    # starts its graph at most once, and no attempt executes after the one that recorded the
    # result. A run's work may reach its `end` in an earlier attempt too (one that was killed,
    # or whose lease was lost, so a later attempt was claimed: its result was discarded); an
    # attempt may also take over the finished task of a killed one from its checkpoint
    # (LangGraph's resume, so no `end` of its own).
    per_attempt = collections.Counter((e.run_id, e.attempt) for e in entries if e.event == "start")
    executed_twice = {key: n for key, n in per_attempt.items() if n > 1}
    assert executed_twice == {}, executed_twice
    echo = {r["run_id"]: r["echo"] for r in created}
    ends: dict[str, list[LedgerEntry]] = collections.defaultdict(list)
    for e in entries:
        if e.event == "end":
            ends[e.run_id].append(e)
    late_completions = 0
    for run_id, row in rows.items():
        started = [attempt for (rid, attempt) in per_attempt if rid == run_id]
        assert started and max(started) <= row["attempt"], (run_id, started, row["attempt"])
        if row["status"] == "success":
            assert ends[run_id], f"run {run_id} succeeded without executing"
            assert row["output"] == {"ok": True, "echo": echo[run_id]}, row
            # the recorded attempt executed, or took the result an earlier attempt had
            # checkpointed before it died (a resume starts nothing)
            resumed = row["attempt"] not in started and bool(ends[run_id])
            assert max(started) == row["attempt"] or resumed, (run_id, started, row["attempt"])
        late = [e for e in ends[run_id] if e.attempt != row["attempt"]]
        assert all(e.attempt < row["attempt"] for e in late), (run_id, ends[run_id])
        late_completions += len(late)

    # --- no two attempts at once beyond the lease-loss detection window -------------------------
    # (a frozen process executes nothing: its frozen intervals do not count)
    frozen = _frozen(entries, chaos.kills, chaos.ended_at)
    overlaps = []
    for run_id, spans in attempts.items():
        assert all(how != "unexplained" for *_, how in spans), (run_id, spans)
        for i, (pid_a, _, start_a, stop_a, _) in enumerate(spans):
            for pid_b, _, start_b, stop_b, _ in spans[i + 1 :]:
                start, stop = max(start_a, start_b), min(stop_a, stop_b)
                if pid_a == pid_b or stop <= start:
                    continue
                together = _executing_together(start, stop, frozen[pid_a] + frozen[pid_b])
                if together > 0:
                    overlaps.append((together, run_id))
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
            "max_attempts": MAX_ATTEMPTS,
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
        "max_executions_of_one_attempt": max(per_attempt.values()),
        "redis_cuts_of_one_worker": len(chaos.redis_cuts),
        "postgres_down_seconds": [round(b - a, 1) for a, b in chaos.postgres_down],
        "freezes": sum(1 for e in entries if e.event == "freeze"),
        "duplicates_suppressed": {
            "messages_dropped_at_claim": logs.count("not claimed (duplicate, stale"),
            "stale_attempts_fenced": len(fenced),
            "late_completions_discarded": late_completions,
        },
        "overlapping_executions_beyond_detection": sum(
            1 for together, _ in overlaps if together > LEASE_LOSS_DETECTION
        ),
        "max_overlap_seconds": round(worst[0], 3),
    }
    # the chaos did happen
    assert chaos.kills and chaos.redis_restarts and chaos.redis_cuts and chaos.postgres_down
    assert figures["freezes"] > 0
    assert figures["requeued_by_sweeper"] > 0
    return figures
