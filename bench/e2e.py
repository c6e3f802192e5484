#!/usr/bin/env python
"""End-to-end benchmark: Callboard ``noop`` runs/s against raw Dramatiq no-op msgs/s.

One invocation, on this machine, all local:

1. a fresh database ``cb_bench_<random>`` (migrations applied), its own Redis DB number
   (default 14, flushed at start and end: that DB only); both are removed at the end;
2. ONE ``web`` process (gunicorn gthread, 1 worker process; its control socket off, as that
   path is shared by every gunicorn of the user) and ONE ``worker`` process
   (``python -m workers``), started as the Procfile starts them;
3. phases:
   - warm-up: a few runs (imports, pools, first plans), not measured;
   - throughput: ``--runs`` runs created over HTTP on pre-created threads by ``--clients``
     client threads, until all are ``success`` in Postgres; runs/s from the database clock
     (``max(ended_at) - min(created_at)``), create latency on the client, pickup latency
     (``claimed_at - created_at``) from the database;
   - idle probe: ``--probe`` runs created one at a time on an idle system (a pause before each),
     to show pickup latency when nothing is queued;
   - raw Dramatiq baseline (stack stopped): a ``RedisBroker`` on the same Redis DB, a no-op
     actor, ``--messages`` messages enqueued, then drained by a ``dramatiq.Worker`` of
     ``--jobs`` threads in a child process; msgs/s, with Dramatiq's defaults and as
     ``python -m workers`` configures its Worker (prefetch = threads, its poll bound).
4. a compact report on stdout, and the same as JSON in ``bench/results/`` (git-ignored).

Diagnostics of the throughput phase, to tell where the time goes: CPU of web, worker, the bench
database's Postgres backends, the client and the whole machine (from /proc); what Postgres
backends wait on (``pg_stat_activity`` sampled every 50 ms); transactions per run and scans of
``runs``/``threads`` (``pg_stat_*``; the bench's own polls go through an index and are not
counted); how many of the worker's slots are between claim and end on average.

Not a test: nothing is asserted. The machine is shared (2 cores; other jobs may run), so
compare runs only when the "redis+other jobs" CPU column is low.

    .venv/bin/python bench/e2e.py [--runs 2000] [--messages 5000] [--redis-db 14] ...
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS_DIR = ROOT / "bench" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------- utils


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def ms(seconds: float | None) -> str:
    return "   n/a" if seconds is None else f"{seconds * 1000:6.1f}"


def wait_for(pred: Callable[[], Any], timeout: float, interval: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_cpu_seconds(pgid: int) -> float:
    """user+system CPU seconds of the live processes of process group ``pgid``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state): pgrp = field 5, utime = 14, stime = 15
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def _pid_cpu(pid: int) -> float | None:
    """user+system CPU seconds of ``pid`` (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores) since boot."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


# ---------------------------------------------------------------------------------- processes


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: CPU accounting and a clean stop
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            tail = "\n".join(self.output().splitlines()[-30:])
            raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{tail}")

    def cpu(self) -> float:
        return group_cpu_seconds(self.popen.pid)

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait()
        self._handle.close()


def start_web(env: dict[str, str], port: int, threads: int, log: Path) -> Proc:
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "app:create_app()",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "0",
        # gunicorn >= 23 opens a control socket at one fixed path ($HOME/.gunicorn/gunicorn.ctl)
        # shared by every gunicorn of the user: stay off it, other stacks may run here
        "--no-control-socket",
    ]
    proc = Proc("web", argv, env, log)

    def ready() -> bool:
        import httpx

        proc.check_alive()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/ok", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, 90, 0.1, "web /ok")
    return proc


def start_worker(env: dict[str, str], log: Path) -> Proc:
    proc = Proc("worker", [sys.executable, "-m", "workers"], env, log)

    def ready() -> bool:
        proc.check_alive()
        return "callboard worker ready" in proc.output()

    wait_for(ready, 90, 0.1, "worker ready")
    return proc


# ---------------------------------------------------------------------------------- HTTP load


class Client:
    """``n`` threads, each with its own ``httpx.Client`` (keep-alive), sharing a work list."""

    def __init__(self, base_url: str, n: int) -> None:
        self.base_url = base_url
        self.n = n

    def run(self, requests: list[tuple[str, str, dict]]) -> tuple[list[float], list[dict], int]:
        """Send ``(method, path, json)`` requests; return (latencies s, bodies, errors)."""
        import httpx

        latencies: list[float] = [0.0] * len(requests)
        bodies: list[dict] = [{}] * len(requests)
        errors = [0]
        nxt = iter(range(len(requests)))
        lock = threading.Lock()

        def loop() -> None:
            with httpx.Client(base_url=self.base_url, timeout=60) as http:
                while True:
                    with lock:
                        i = next(nxt, None)
                    if i is None:
                        return
                    method, path, body = requests[i]
                    t0 = time.perf_counter()
                    try:
                        r = http.request(method, path, json=body)
                        latencies[i] = time.perf_counter() - t0
                        if r.status_code == 200:
                            bodies[i] = r.json()
                        else:
                            with lock:
                                errors[0] += 1
                    except httpx.HTTPError:
                        latencies[i] = time.perf_counter() - t0
                        with lock:
                            errors[0] += 1

        threads = [threading.Thread(target=loop, daemon=True) for _ in range(self.n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return latencies, bodies, errors[0]


def make_threads(client: Client, n: int) -> list[str]:
    _, bodies, errors = client.run([("POST", "/threads", {}) for _ in range(n)])
    if errors:
        raise RuntimeError(f"{errors} thread creations failed")
    return [b["thread_id"] for b in bodies]


def run_body(phase: str, i: int, durability: str | None) -> dict:
    body: dict[str, Any] = {
        "assistant_id": "noop",
        "input": {"i": i},
        "metadata": {"bench_phase": phase},
    }
    if durability:
        body["durability"] = durability
    return body


POLLS = [0]  # statements the bench ran on the bench database (to subtract from its counters)


def phase_counts(conn: Any, phase: str) -> tuple[int, int]:
    # through the GIN index on metadata (the bench's session has enable_seqscan off), so that
    # the seq scans counted on ``runs`` are the application's own
    POLLS[0] += 1
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE status = 'success'),"
        " count(*) FILTER (WHERE status IN ('error', 'timeout', 'interrupted'))"
        " FROM runs WHERE metadata @> %s::jsonb",
        (json.dumps({"bench_phase": phase}),),
    ).fetchone()
    return int(row[0]), int(row[1])


def wait_phase_done(conn: Any, phase: str, n: int, timeout: float, procs: list[Proc]) -> None:
    def done() -> bool:
        for p in procs:
            p.check_alive()
        ok, failed = phase_counts(conn, phase)
        if failed:
            raise RuntimeError(f"{failed} run(s) of phase {phase!r} did not succeed")
        return ok >= n

    wait_for(done, timeout, 0.05, f"{n} successful runs of phase {phase!r}")


def db_stats(conn: Any, phase: str) -> dict:
    """Timings of a phase's runs, all from the database clock."""
    row = conn.execute(
        """
        SELECT count(*),
               extract(epoch FROM max(ended_at) - min(created_at)),
               extract(epoch FROM max(created_at) - min(created_at)),
               percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP
                   (ORDER BY extract(epoch FROM claimed_at - created_at)),
               max(extract(epoch FROM claimed_at - created_at)),
               percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP
                   (ORDER BY extract(epoch FROM ended_at - claimed_at)),
               percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP
                   (ORDER BY extract(epoch FROM ended_at - created_at)),
               max(attempt),
               sum(extract(epoch FROM ended_at - claimed_at))
        FROM runs WHERE metadata @> %s::jsonb AND status = 'success'
        """,
        (json.dumps({"bench_phase": phase}),),
    ).fetchone()
    POLLS[0] += 1
    count, span, create_span, pickup, pickup_max, execute, e2e, max_attempt, busy = row
    return {
        "runs": int(count),
        "span_s": float(span or 0),
        "create_span_s": float(create_span or 0),
        "pickup_p50_s": float(pickup[0]),
        "pickup_p99_s": float(pickup[1]),
        "pickup_max_s": float(pickup_max),
        "claim_to_end_p50_s": float(execute[0]),
        "claim_to_end_p99_s": float(execute[1]),
        "create_to_end_p50_s": float(e2e[0]),
        "create_to_end_p99_s": float(e2e[1]),
        "max_attempt": int(max_attempt),
        # mean number of runs between claim and end over the span: how many of the worker's
        # N_JOBS_PER_WORKER slots were in use (the rest: claiming, after-end work, idle)
        "mean_running": float(busy or 0) / float(span) if span else 0.0,
    }


class WaitSampler:
    """Samples ``pg_stat_activity`` of the bench database every ``interval`` s in a thread:
    what the active backends wait on (lock waits, WAL flushes, ...)."""

    def __init__(self, database_url: str, db_name: str, interval: float = 0.05) -> None:
        self.database_url = database_url
        self.db_name = db_name
        self.interval = interval
        self.samples = 0
        self.counts: dict[str, int] = {}
        self.cpu0: dict[int, float] = {}  # backend pid -> CPU seconds when first seen
        self.cpu_gone = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self._stop.wait(self.interval):
                rows = conn.execute(
                    "SELECT state, coalesce(wait_event_type || ':' || wait_event, 'CPU')"
                    " FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                    " AND state <> 'idle'",
                    (self.db_name,),
                ).fetchall()
                self.samples += 1
                pids = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db_name,)
                ).fetchall()
                for (pid,) in pids:
                    if pid not in self.cpu0:
                        self.cpu0[pid] = (0.0 if self.samples > 1 else _pid_cpu(pid)) or 0.0
                for state, wait in rows:
                    key = wait if state == "active" else f"{state} ({wait})"
                    self.counts[key] = self.counts.get(key, 0) + 1

    def backend_cpu_seconds(self) -> float:
        """CPU the bench database's Postgres backends used while sampled (backends that exited
        in between are missed)."""
        return sum(max((_pid_cpu(pid) or c0) - c0, 0.0) for pid, c0 in self.cpu0.items())

    def summary(self, top: int = 6) -> dict[str, float]:
        """``{wait: mean number of backends in it}``, the ``top`` largest."""
        n = max(self.samples, 1)
        ranked = sorted(self.counts.items(), key=lambda kv: -kv[1])[:top]
        return {k: round(v / n, 2) for k, v in ranked}


def table_scans(conn: Any) -> dict[str, dict[str, int]]:
    """Cumulative scan counters of the hot tables (a seq scan of ``runs`` in the hot path means
    a bad plan), and the database's committed transactions (under ``_db``)."""
    POLLS[0] += 2
    commits = conn.execute(
        "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    rows = conn.execute(
        "SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0), n_live_tup"
        " FROM pg_stat_user_tables WHERE relname IN"
        " ('runs', 'threads', 'checkpoints', 'checkpoint_writes', 'checkpoint_blobs')"
    ).fetchall()
    out = {
        r[0]: {"seq_scan": r[1], "seq_tup_read": r[2], "idx_scan": r[3], "live": r[4]} for r in rows
    }
    out["_db"] = {"xact_commit": commits[0], "xact_rollback": commits[1]}
    return out


# ------------------------------------------------------------------------- Dramatiq baseline


def baseline_child(
    redis_url: str, messages: int, threads: int, prefetch: int, worker_timeout: int
) -> None:
    """In a child process: enqueue ``messages`` no-op messages, drain them, print JSON."""
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=redis_url)  # Dramatiq's default middleware
    dramatiq.set_broker(broker)
    queue = f"cb_bench_noop_{secrets.token_hex(4)}"
    lock = threading.Lock()
    done = threading.Event()
    count = [0]
    last = [0.0]

    @dramatiq.actor(queue_name=queue, max_retries=0)
    def noop(i: int) -> None:
        with lock:
            count[0] += 1
            if count[0] == messages:
                last[0] = time.perf_counter()
                done.set()

    t0 = time.perf_counter()
    for i in range(messages):
        noop.send(i)
    enqueue_s = time.perf_counter() - t0

    options = {"worker_timeout": worker_timeout} if worker_timeout else {}
    worker = dramatiq.Worker(broker, worker_threads=threads, queues={queue}, **options)
    if prefetch:
        worker.queue_prefetch = prefetch
    cpu0 = self_cpu_seconds()
    t1 = time.perf_counter()
    worker.start()
    finished = done.wait(timeout=max(60.0, messages / 50))
    drain_s = (last[0] or time.perf_counter()) - t1
    cpu = self_cpu_seconds() - cpu0
    worker.stop(timeout=10_000)
    broker.client.delete(
        f"dramatiq:{queue}",
        f"dramatiq:{queue}.msgs",
        f"dramatiq:{queue}.DQ",
        f"dramatiq:{queue}.DQ.msgs",
    )
    broker.close()
    print(
        json.dumps(
            {
                "messages": messages,
                "processed": count[0],
                "finished": finished,
                "threads": threads,
                "prefetch": worker.queue_prefetch,
                "worker_timeout_ms": worker.worker_timeout,
                "enqueue_s": enqueue_s,
                "enqueue_msgs_per_s": messages / enqueue_s,
                "drain_s": drain_s,
                "drain_msgs_per_s": count[0] / drain_s if drain_s > 0 else None,
                "drain_cpu_s": cpu,
            }
        )
    )


def run_baseline(
    redis_url: str, messages: int, threads: int, prefetch: int = 0, worker_timeout: int = 0
) -> dict:
    """``prefetch``/``worker_timeout`` 0: Dramatiq's defaults."""
    argv = [
        sys.executable,
        __file__,
        "--_baseline-child",
        redis_url,
        str(messages),
        str(threads),
        str(prefetch),
        str(worker_timeout),
    ]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"baseline child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -------------------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=2000, help="runs in the throughput phase")
    p.add_argument("--messages", type=int, default=5000, help="messages of the Dramatiq baseline")
    p.add_argument("--warmup", type=int, default=50, help="warm-up runs (not measured)")
    p.add_argument(
        "--probe", type=int, default=20, help="runs of the idle pickup-latency probe (0: skip)"
    )
    p.add_argument(
        "--probe-gap", type=float, default=1.5, help="idle seconds before each probe run"
    )
    p.add_argument("--clients", type=int, default=16, help="concurrent HTTP client threads")
    p.add_argument("--web-threads", type=int, default=32, help="gunicorn gthread threads")
    p.add_argument("--jobs", type=int, default=10, help="N_JOBS_PER_WORKER / Dramatiq threads")
    p.add_argument(
        "--durability",
        choices=["sync", "async", "exit"],
        default=None,
        help="durability of the runs (default: the server's)",
    )
    p.add_argument(
        "--pg-admin",
        default=os.environ.get(
            "CALLBOARD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    p.add_argument(
        "--redis-base", default=os.environ.get("CALLBOARD_BENCH_REDIS", "redis://127.0.0.1:6379")
    )
    p.add_argument(
        "--redis-db",
        type=int,
        default=14,
        help="the Redis DB number to use (flushed at start and end)",
    )
    p.add_argument(
        "--reads", type=int, default=2000, help="GETs of runs and threads in the reads phase"
    )
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    p.add_argument(
        "--keep-db",
        action="store_true",
        help="do not drop the database at the end (to inspect plans)",
    )
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--_baseline-child"]:
        baseline_child(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5]))
        return 0
    args = parse_args(argv)

    import psycopg
    import redis

    from migrations import apply_all

    db_name = f"cb_bench_{secrets.token_hex(5)}"
    base = args.pg_admin.rpartition("/")[0]
    database_url = f"{base}/{db_name}"
    redis_url = f"{args.redis_base}/{args.redis_db}"
    logdir = Path(tempfile.mkdtemp(prefix="cb_bench_"))
    procs: list[Proc] = []
    rclient = redis.Redis.from_url(redis_url)
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "config": {k: v for k, v in vars(args).items() if k not in ("pg_admin", "redis_base")},
        "machine": {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()},
    }

    def admin(sql: str) -> None:
        with psycopg.connect(args.pg_admin, autocommit=True) as c:
            c.execute(sql)

    def say(msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    created_db = False
    try:
        rclient.flushdb()  # this DB number only
        admin(f'CREATE DATABASE "{db_name}"')
        created_db = True
        say(f"database {db_name}: applying migrations")
        apply_all(database_url)

        env = dict(os.environ)
        env.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            CALLBOARD_CONFIG=str(ROOT / "examples" / "langgraph.json"),
            N_JOBS_PER_WORKER=str(args.jobs),
            PYTHONUNBUFFERED="1",
        )
        port = free_port()
        say("starting web and worker")
        web = start_web(env, port, args.web_threads, logdir / "web.log")
        procs.append(web)
        worker = start_worker(env, logdir / "worker.log")
        procs.append(worker)
        client = Client(f"http://127.0.0.1:{port}", args.clients)

        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SET enable_seqscan = off")  # see phase_counts
            # -- warm-up
            if args.warmup:
                say(f"warm-up: {args.warmup} runs")
                tids = make_threads(client, args.warmup)
                client.run(
                    [
                        ("POST", f"/threads/{t}/runs", run_body("warmup", i, args.durability))
                        for i, t in enumerate(tids)
                    ]
                )
                wait_phase_done(conn, "warmup", args.warmup, 120, procs)

            # -- throughput
            n = args.runs
            say(f"throughput: creating {n} threads (not timed)")
            tids = make_threads(client, n)
            say(f"throughput: {n} runs from {args.clients} client threads")
            reqs = [
                ("POST", f"/threads/{t}/runs", run_body("measure", i, args.durability))
                for i, t in enumerate(tids)
            ]
            time.sleep(1.1)  # let pg_stat counters settle (backends flush them every 1 s)
            scans0 = table_scans(conn)
            polls0 = POLLS[0]
            cpu0 = {p.name: p.cpu() for p in procs}
            self0, busy0, wall0 = self_cpu_seconds(), machine_busy_seconds(), time.monotonic()
            with WaitSampler(args.pg_admin, db_name) as waits:
                latencies, created, http_errors = client.run(reqs)
                created_wall = time.monotonic() - wall0
                if http_errors:
                    raise RuntimeError(f"{http_errors} run creations failed")
                wait_phase_done(conn, "measure", n, max(120.0, n / 10), procs)
                observed_wall = time.monotonic() - wall0
                pg_cpu = waits.backend_cpu_seconds()
            cpu = {p.name: p.cpu() - cpu0[p.name] for p in procs}
            client_cpu = self_cpu_seconds() - self0
            busy = machine_busy_seconds() - busy0
            time.sleep(1.1)  # let pg_stat counters settle (backends flush them every 1 s)
            scans1 = table_scans(conn)
            polls = POLLS[0] - polls0
            stats = db_stats(conn, "measure")
            scans = {
                t: {k: v - scans0.get(t, {}).get(k, 0) for k, v in c.items() if k != "live"}
                for t, c in scans1.items()
            }
            commits = scans.pop("_db")
            runs = [body.get("run_id") for body in created]
            app_commits = commits["xact_commit"] - polls
            runs_per_s = stats["runs"] / stats["span_s"]
            ours = sum(cpu.values()) + client_cpu + pg_cpu
            result["throughput"] = {
                **stats,
                "runs_per_s": runs_per_s,
                "create_http_p50_s": percentile(latencies, 50),
                "create_http_p99_s": percentile(latencies, 99),
                "create_http_max_s": max(latencies),
                "creates_per_s_client": n / created_wall,
                "observed_wall_s": observed_wall,
                "cpu_cores": {
                    "web": cpu["web"] / observed_wall,
                    "worker": cpu["worker"] / observed_wall,
                    "bench_client": client_cpu / observed_wall,
                    "postgres_backends": pg_cpu / observed_wall,
                    "machine_busy": busy / observed_wall,
                    "redis_and_other": max(busy - ours, 0.0) / observed_wall,
                },
                "cpu_ms_per_run": {
                    "web": cpu["web"] / n * 1000,
                    "worker": cpu["worker"] / n * 1000,
                    "postgres": pg_cpu / n * 1000,
                },
                "pg_waits_mean_backends": waits.summary(),
                "pg_table_scans": scans,
                "pg_commits_per_run": app_commits / n,
                "pg_rollbacks": commits["xact_rollback"],
            }

            # -- reads: the SDK's commonest reads of finished runs (GET the run, GET its thread)
            if args.reads:
                say(f"reads: {args.reads} GETs from {args.clients} client threads")
                reads = [
                    ("GET", f"/threads/{tids[i % n]}/runs/{runs[i % n]}", None)
                    if i % 2 == 0
                    else ("GET", f"/threads/{tids[i % n]}", None)
                    for i in range(args.reads)
                ]
                cpu0 = {p.name: p.cpu() for p in procs}
                wall0 = time.monotonic()
                with WaitSampler(args.pg_admin, db_name) as waits:
                    read_latencies, _, read_errors = client.run(reads)
                    read_wall = time.monotonic() - wall0
                    pg_cpu = waits.backend_cpu_seconds()
                cpu = {p.name: p.cpu() - cpu0[p.name] for p in procs}
                if read_errors:
                    raise RuntimeError(f"{read_errors} reads failed")
                result["reads"] = {
                    "reads": args.reads,
                    "reads_per_s": args.reads / read_wall,
                    "http_p50_s": percentile(read_latencies, 50),
                    "http_p99_s": percentile(read_latencies, 99),
                    "cpu_ms_per_read": {
                        "web": cpu["web"] / args.reads * 1000,
                        "postgres": pg_cpu / args.reads * 1000,
                    },
                }

            # -- idle pickup probe
            if args.probe:
                say(f"idle probe: {args.probe} runs, {args.probe_gap}s apart")
                tids = make_threads(client, args.probe)
                import httpx

                lat: list[float] = []
                with httpx.Client(base_url=client.base_url, timeout=60) as http:
                    for i, t in enumerate(tids):
                        time.sleep(args.probe_gap)
                        t0 = time.perf_counter()
                        body = run_body("probe", i, args.durability)
                        r = http.post(f"/threads/{t}/runs", json=body)
                        lat.append(time.perf_counter() - t0)
                        r.raise_for_status()
                        wait_phase_done(conn, "probe", i + 1, 30, procs)
                pstats = db_stats(conn, "probe")
                pstats["create_http_p50_s"] = percentile(lat, 50)
                pstats["create_http_p99_s"] = percentile(lat, 99)
                result["idle_probe"] = pstats

        say("stopping web and worker")
        for p in procs:
            p.stop()
        result["worker_log_warnings"] = sum(
            1 for line in worker.output().splitlines() if " WARNING " in line or " ERROR " in line
        )

        # -- raw Dramatiq baseline, with the stack stopped
        if not args.skip_baseline:
            say(f"raw Dramatiq baseline: {args.messages} messages, {args.jobs} threads")
            busy0, wall0 = machine_busy_seconds(), time.monotonic()
            default = run_baseline(redis_url, args.messages, args.jobs)
            # as ``python -m workers`` configures its Worker: prefetch = threads, its poll bound
            import workers.__main__ as worker_main

            poll_ms = int(getattr(worker_main, "POLL_MS", 0))
            same = run_baseline(redis_url, args.messages, args.jobs, args.jobs, poll_ms)
            result["dramatiq_baseline"] = {
                "default_prefetch": default,
                "prefetch_eq_threads": same,
                "machine_busy_cores": (machine_busy_seconds() - busy0) / (time.monotonic() - wall0),
            }
            result["ratio_e2e_over_dramatiq"] = (
                result["throughput"]["runs_per_s"] / default["drain_msgs_per_s"]
            )
        result["machine"]["loadavg_end"] = os.getloadavg()
    except BaseException:
        for p in procs:
            tail = "\n".join(p.output().splitlines()[-20:])
            print(f"--- last lines of {p.name} log ({p.log}):\n{tail}", file=sys.stderr)
        args.keep_logs = True
        raise
    finally:
        for p in procs:
            p.stop()
        try:
            rclient.flushdb()
            rclient.close()
        except redis.RedisError as exc:
            print(f"could not flush Redis DB {args.redis_db}: {exc}", file=sys.stderr)
        if created_db and args.keep_db:
            print(f"database kept: {database_url}", file=sys.stderr)
        elif created_db:
            try:
                admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            except psycopg.Error as exc:
                print(f"could not drop database {db_name}: {exc}", file=sys.stderr)
        if args.keep_logs:
            print(f"process logs kept in {logdir}", file=sys.stderr)
        else:
            for f in logdir.iterdir():
                f.unlink()
            logdir.rmdir()

    print(report(result))
    if not args.no_save:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"e2e-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"saved {path.relative_to(ROOT)}")
    return 0


def report(r: dict) -> str:
    c = r["config"]
    t = r["throughput"]
    cores = t["cpu_cores"]
    lines = [
        f"Callboard e2e benchmark  ({r['when']}, git {r['git']}, {r['machine']['cpus']} CPUs,"
        f" loadavg {r['machine']['loadavg_start'][0]:.2f} -> "
        f"{r['machine'].get('loadavg_end', [float('nan')])[0]:.2f})",
        f"  stack: 1 web (gunicorn gthread, 1 proc x {c['web_threads']} threads), 1 worker "
        f"(N_JOBS_PER_WORKER={c['jobs']}); {c['clients']} HTTP client threads; graph noop; "
        f"durability {c['durability'] or 'server default'}",
        "",
        f"THROUGHPUT  {t['runs']} runs on pre-created threads",
        f"  e2e runs/s          {t['runs_per_s']:8.1f}   (DB clock: first created_at -> last "
        f"ended_at = {t['span_s']:.2f} s; worker log warnings/errors: "
        f"{r.get('worker_log_warnings', 0)})",
        f"  creates/s (client)  {t['creates_per_s_client']:8.1f}   (all POSTs answered in "
        f"{t['runs'] / t['creates_per_s_client']:.2f} s)",
        "                          p50      p99      max   (ms)",
        f"  create HTTP      {ms(t['create_http_p50_s'])}   {ms(t['create_http_p99_s'])}"
        f"   {ms(t['create_http_max_s'])}",
        f"  pickup (claim)   {ms(t['pickup_p50_s'])}   {ms(t['pickup_p99_s'])}"
        f"   {ms(t['pickup_max_s'])}   claimed_at - created_at",
        f"  claim -> end     {ms(t['claim_to_end_p50_s'])}   {ms(t['claim_to_end_p99_s'])}",
        f"  create -> end    {ms(t['create_to_end_p50_s'])}   {ms(t['create_to_end_p99_s'])}",
        f"  CPU cores used    web {cores['web']:.2f}  worker {cores['worker']:.2f}  postgres "
        f"{cores['postgres_backends']:.2f}  bench client {cores['bench_client']:.2f}  "
        f"redis+other jobs {cores['redis_and_other']:.2f}  (machine {cores['machine_busy']:.2f})",
        f"  CPU per run       web {t['cpu_ms_per_run']['web']:.2f} ms  worker "
        f"{t['cpu_ms_per_run']['worker']:.2f} ms  postgres {t['cpu_ms_per_run']['postgres']:.2f} ms"
        f";  worker slots in use {t['mean_running']:.1f} of {c['jobs']}"
        f";  max attempt {t['max_attempt']}",
        "  Postgres backends (mean) "
        + ", ".join(f"{k} {v}" for k, v in t["pg_waits_mean_backends"].items()),
        f"  Postgres commits/run {t['pg_commits_per_run']:.1f}; scans during phase: "
        + "; ".join(
            f"{name} seq {v['seq_scan']} ({v['seq_tup_read']} rows) idx {v['idx_scan']}"
            for name, v in sorted(t["pg_table_scans"].items())
            if name in ("runs", "threads")
        ),
    ]
    rd = r.get("reads")
    if rd:
        lines += [
            "",
            f"READS  {rd['reads']} GETs (run, thread), {rd['reads_per_s']:.0f}/s;  HTTP p50 "
            f"{ms(rd['http_p50_s'])}  p99 {ms(rd['http_p99_s'])};  CPU per read  web "
            f"{rd['cpu_ms_per_read']['web']:.2f} ms  postgres "
            f"{rd['cpu_ms_per_read']['postgres']:.2f} ms",
        ]
    p = r.get("idle_probe")
    if p:
        lines += [
            "",
            f"IDLE PROBE  {p['runs']} runs one at a time, {c['probe_gap']} s idle before each",
            f"  create HTTP      {ms(p['create_http_p50_s'])}   {ms(p['create_http_p99_s'])}",
            f"  pickup (claim)   {ms(p['pickup_p50_s'])}   {ms(p['pickup_p99_s'])}"
            f"   {ms(p['pickup_max_s'])}",
            f"  claim -> end     {ms(p['claim_to_end_p50_s'])}   {ms(p['claim_to_end_p99_s'])}",
        ]
    b = r.get("dramatiq_baseline")
    if b:
        d, s = b["default_prefetch"], b["prefetch_eq_threads"]
        lines += [
            "",
            f"RAW DRAMATIQ  RedisBroker, no-op actor, {d['messages']} msgs, Worker of "
            f"{d['threads']} threads (separate process, stack stopped)",
            f"  drain msgs/s        {d['drain_msgs_per_s']:8.1f}   prefetch {d['prefetch']} "
            f"(Dramatiq default); enqueue {d['enqueue_msgs_per_s']:.0f} msgs/s",
            f"  drain msgs/s        {s['drain_msgs_per_s']:8.1f}   prefetch {s['prefetch']}, "
            f"worker_timeout {s['worker_timeout_ms']} ms (as python -m workers)",
            "",
            f"RATIO  Callboard e2e runs/s / raw Dramatiq msgs/s = "
            f"{t['runs_per_s']:.1f} / {d['drain_msgs_per_s']:.1f} = "
            f"{r['ratio_e2e_over_dramatiq']:.3f}   (vs the python -m workers configuration: "
            f"{t['runs_per_s'] / s['drain_msgs_per_s']:.3f})",
        ]
    lines += [
        "",
        "Note: 2 shared cores; other jobs may run at the same time. Trust a result only when",
        "'redis+other jobs' is small: it is mostly other jobs on the machine.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
