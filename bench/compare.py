#!/usr/bin/env python
"""Callboard side by side with its peers, from ONE invocation on one machine (issue 7).

    .venv/bin/python bench/compare.py            # the full table (a few minutes)
    .venv/bin/python bench/compare.py --quick    # small counts, for development
    .venv/bin/python bench/compare.py --only plain,celery

Sections (``--only``), each run while the others are stopped:

- ``dramatiq``: raw Dramatiq drain of no-op messages, 1 process x 10 threads (``bench/e2e.py``);
- ``celery``: Celery 5, ``prefork -c 10``, Redis broker + result backend; 16 client threads
  ``delay()`` then every result is collected; sequential ``delay().get()`` p50/p99;
- ``plain``: Callboard ``noop`` (a plain function) runs created over HTTP by 16 client threads
  on existing threads, 1 web + 1 worker with the Procfile defaults, until every run is
  ``success``; sequential create -> join p50/p99; ``POST /runs/batch`` (50 runs a request);
  per run: Postgres transactions (``pg_stat_database.xact_commit``) and rows written
  (``pg_stat_user_tables``), web and worker CPU ms; peak Postgres connections of the stack;
- ``tasks``: the same no-op as a task of the ``callboard`` client (``@app.task``,
  ``bench/peers/callboard_tasks.py``, the registry's ``"tasks"`` key), 1 web + 1 worker: 16
  client threads ``.delay()`` then every result is collected with ``.get()``; sequential
  ``delay().get()`` p50/p99: Celery's own measures, on the same client calls;
- ``graph``: a 3-node ``StateGraph`` (``bench/peers/graphs.py``, durability ``async``) through
  ``langgraph-sdk``: 200 concurrent create+join, and sequential, against ``langgraph dev`` on
  the same graph;
- ``io``: runs of a plain function sleeping 100 ms, ``N_JOBS_PER_WORKER=50``, 1/2/4 workers,
  against the seed's ``workers x N_JOBS_PER_WORKER / run_seconds``.

Celery and ``langgraph-cli[inmem]`` are installed from PyPI into ``bench/.venv-peers`` (git-
ignored) on first use. The bench creates and drops its own database and uses one Redis DB
(``--redis-db``, default 14, flushed between sections). Nothing is asserted; the machine is
shared, so the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import e2e  # noqa: E402 - the helpers of bench/e2e.py (processes, HTTP load, Dramatiq drain)
from client_tasks import bench_tasks  # noqa: E402 - section "tasks"
from e2e import ROOT, Client, Proc, percentile, wait_for  # noqa: E402

PEERS = BENCH / "peers"
PEERS_VENV = BENCH / ".venv-peers"
PEER_PACKAGES = ["celery[redis]>=5,<6", "langgraph-cli[inmem]"]
LANGGRAPH_DEV_PORT = 2124


def say(msg: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def peers_venv() -> Path:
    """The side venv's bin directory, created with Celery and langgraph-cli on first use."""
    bin_dir = PEERS_VENV / "bin"
    if not (bin_dir / "celery").exists() or not (bin_dir / "langgraph").exists():
        say(f"installing {PEER_PACKAGES} into {PEERS_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run([str(bin_dir / "pip"), "install", "-q", *PEER_PACKAGES], check=True)
    return bin_dir


# ----------------------------------------------------------------------------------- peers


def bench_celery(redis_url: str, runs: int, sequential: int, logdir: Path) -> dict:
    bin_dir = peers_venv()
    env = {**os.environ, "CB_PEER_REDIS": redis_url, "PYTHONPATH": str(PEERS)}
    argv = [str(bin_dir / "celery"), "-A", "celery_app", "worker", "-P", "prefork", "-c", "10"]
    worker = _proc("celery-worker", [*argv, "--loglevel=WARNING"], env, logdir, cwd=PEERS)
    try:
        out = subprocess.run(
            [
                str(bin_dir / "python"),
                str(PEERS / "celery_client.py"),
                str(runs),
                "16",
                str(sequential),
            ],
            cwd=PEERS,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if out.returncode != 0:
            raise RuntimeError(f"celery client failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["worker_cpu_ms_per_task"] = worker.cpu() / (runs + sequential + 20) * 1000
        return result
    finally:
        worker.stop()


def start_langgraph_dev(logdir: Path) -> Proc:
    bin_dir = peers_venv()
    shutil.rmtree(PEERS / ".langgraph_api", ignore_errors=True)
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}
    argv = [
        str(bin_dir / "langgraph"),
        "dev",
        "--no-browser",
        "--no-reload",
        "--port",
        str(LANGGRAPH_DEV_PORT),
        "--n-jobs-per-worker",
        "10",
        "--config",
        "langgraph.json",
    ]
    proc = _proc("langgraph-dev", argv, env, logdir, cwd=PEERS)
    _wait_http(proc, f"http://127.0.0.1:{LANGGRAPH_DEV_PORT}/ok")
    return proc


def _proc(name: str, argv: list[str], env: dict, logdir: Path, cwd: Path = ROOT) -> Proc:
    proc = Proc.__new__(Proc)
    proc.name, proc.log = name, logdir / f"{name}-{secrets.token_hex(2)}.log"
    proc._handle = open(proc.log, "wb")  # noqa: SIM115 - closed by Proc.stop
    proc.popen = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=proc._handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc


def _wait_http(proc: Proc, url: str) -> None:
    import httpx

    def ready() -> bool:
        proc.check_alive()
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, 120, 0.2, url)


# ------------------------------------------------------------------------------- Callboard


class Stack:
    """1 web (Procfile defaults: gthread, ``WEB_THREADS`` 256) + ``workers`` workers on the
    bench database, the graphs of ``bench/peers/callboard.json``; samples peak connections."""

    def __init__(self, env: dict[str, str], logdir: Path, db_name: str, admin: str) -> None:
        self.env, self.logdir, self.db_name, self.admin = env, logdir, db_name, admin
        self.web: Proc | None = None
        self.workers: list[Proc] = []
        self.peak_connections = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            while not self._stop.wait(0.05):
                (n,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                    " AND pid <> pg_backend_pid()",
                    (self.db_name,),
                ).fetchone()
                self.peak_connections = max(self.peak_connections, int(n))

    def start_web(self) -> str:
        port = e2e.free_port()
        self.web = e2e.start_web(self.env, port, 256, self.logdir / "web.log")
        return f"http://127.0.0.1:{port}"

    def start_workers(self, n: int, **env: str) -> None:
        for i in range(n):
            self.workers.append(
                e2e.start_worker({**self.env, **env}, self.logdir / f"worker-{i}.log")
            )

    def stop_workers(self) -> None:
        for w in self.workers:
            w.stop()
        self.workers = []

    def close(self) -> None:
        self.stop_workers()
        if self.web is not None:
            self.web.stop()
        self._stop.set()
        self._sampler.join()


def _counters(conn: Any) -> dict[str, int]:
    row = conn.execute(
        "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),"
        " (SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables)"
    ).fetchone()
    return {"xact_commit": int(row[0]), "rows_written": int(row[1] or 0)}


def _settled_counters(conn: Any) -> dict[str, int]:
    time.sleep(1.1)  # backends flush their pg_stat counters every second
    return _counters(conn)


def bench_plain(stack: Stack, base: str, conn: Any, runs: int, sequential: int) -> dict:
    import httpx

    client = Client(base, 16)
    out: dict[str, Any] = {}
    warm = e2e.make_threads(client, 30)
    client.run([("POST", f"/threads/{t}/runs", _body("warm", i)) for i, t in enumerate(warm)])
    e2e.wait_phase_done(conn, "warm", len(warm), 120, [stack.web, *stack.workers])

    tids = e2e.make_threads(client, runs)
    reqs = [("POST", f"/threads/{t}/runs", _body("plain", i)) for i, t in enumerate(tids)]
    c0 = _settled_counters(conn)
    cpu0 = {p.name + str(i): p.cpu() for i, p in enumerate([stack.web, *stack.workers])}
    polls0 = e2e.POLLS[0]
    t0 = time.perf_counter()
    _, _, errors = client.run(reqs)
    if errors:
        raise RuntimeError(f"{errors} run creations failed")
    e2e.wait_phase_done(conn, "plain", runs, max(120.0, runs / 5), [stack.web, *stack.workers])
    span = time.perf_counter() - t0
    cpu = [p.cpu() - cpu0[p.name + str(i)] for i, p in enumerate([stack.web, *stack.workers])]
    polls = e2e.POLLS[0] - polls0
    c1 = _settled_counters(conn)
    out["e2e_per_s"] = runs / span
    out["xact_per_run"] = (c1["xact_commit"] - c0["xact_commit"] - polls - 2) / runs
    out["rows_written_per_run"] = (c1["rows_written"] - c0["rows_written"]) / runs
    out["web_cpu_ms"] = cpu[0] / runs * 1000
    out["worker_cpu_ms"] = sum(cpu[1:]) / runs * 1000

    seq_threads = e2e.make_threads(client, sequential)
    latencies = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for i, t in enumerate(seq_threads):
            t1 = time.perf_counter()
            run = http.post(f"/threads/{t}/runs", json=_body("seq", i)).json()
            http.get(f"/threads/{t}/runs/{run['run_id']}/join").raise_for_status()
            latencies.append(time.perf_counter() - t1)
    out["seq_p50_s"] = percentile(latencies, 50)
    out["seq_p99_s"] = percentile(latencies, 99)

    batch_threads = e2e.make_threads(client, runs)
    batches = [
        (
            "POST",
            "/runs/batch",
            [
                {"thread_id": t, **_body("batch", i)}
                for i, t in enumerate(batch_threads[k : k + 50], start=k)
            ],
        )
        for k in range(0, runs, 50)
    ]
    t0 = time.perf_counter()
    _, _, errors = Client(base, 4).run(batches)
    if errors:
        raise RuntimeError(f"{errors} batches failed")
    e2e.wait_phase_done(conn, "batch", runs, max(120.0, runs / 5), [stack.web, *stack.workers])
    out["batch_per_s"] = runs / (time.perf_counter() - t0)
    return out


def _body(phase: str, i: int, graph: str = "noop") -> dict:
    return {"assistant_id": graph, "input": {"i": i}, "metadata": {"bench_phase": phase}}


def bench_graph(url: str, concurrent: int, sequential: int) -> dict:
    """3-node StateGraph through langgraph-sdk: ``concurrent`` create+join at once, then
    ``sequential`` one after the other (each on a new thread)."""
    from langgraph_sdk import get_client

    async def one(client: Any, i: int) -> float:
        t0 = time.perf_counter()
        thread = await client.threads.create()
        run = await client.runs.create(
            thread["thread_id"], "chain3", input={"n": i}, durability="async"
        )
        result = await client.runs.join(thread["thread_id"], run["run_id"])
        if result.get("n") != i + 3:
            raise RuntimeError(f"unexpected result {result!r}")
        return time.perf_counter() - t0

    async def main() -> dict:
        client = get_client(url=url, timeout=120)
        await asyncio.gather(*(one(client, i) for i in range(10)))  # warm-up
        t0 = time.perf_counter()
        await asyncio.gather(*(one(client, i) for i in range(concurrent)))
        span = time.perf_counter() - t0
        latencies = [await one(client, i) for i in range(sequential)]
        return {
            "concurrent_per_s": concurrent / span,
            "seq_p50_s": percentile(latencies, 50),
            "seq_p99_s": percentile(latencies, 99),
        }

    return asyncio.run(main())


def bench_io(stack: Stack, base: str, conn: Any, workers: int, rounds: int) -> dict:
    """``rounds`` x the slots of ``workers`` workers (N_JOBS_PER_WORKER=50) of 100 ms runs.

    The runs are created (``POST /runs/batch``) while no worker runs, then the workers start
    together; runs/s = runs / (last end - first claim), database clock: the rate of execution,
    not of creation."""
    n_jobs, seconds = 50, 0.1
    runs = workers * n_jobs * rounds
    phase = f"io{workers}"
    client = Client(base, 8)
    tids = e2e.make_threads(client, runs)
    batches = [
        (
            "POST",
            "/runs/batch",
            [
                {"thread_id": t, **_body(phase, i, "sleep100")}
                for i, t in enumerate(tids[k : k + 50], start=k)
            ],
        )
        for k in range(0, runs, 50)
    ]
    _, _, errors = client.run(batches)
    if errors:
        raise RuntimeError(f"{errors} batches failed")
    env = {**stack.env, "N_JOBS_PER_WORKER": str(n_jobs)}
    try:
        stack.workers = [
            Proc(
                f"worker{i}",
                [sys.executable, "-m", "workers"],
                env,
                stack.logdir / f"io-worker-{workers}-{i}.log",
            )
            for i in range(workers)
        ]
        e2e.wait_phase_done(conn, phase, runs, max(120.0, runs / 10), [stack.web, *stack.workers])
        row = conn.execute(
            "SELECT count(*), extract(epoch FROM max(ended_at) - min(claimed_at)) FROM runs"
            " WHERE metadata @> %s::jsonb AND status = 'success'",
            (json.dumps({"bench_phase": phase}),),
        ).fetchone()
        e2e.POLLS[0] += 1
        formula = workers * n_jobs / seconds
        per_s = int(row[0]) / float(row[1])
        return {
            "workers": workers,
            "runs": runs,
            "per_s": per_s,
            "formula_per_s": formula,
            "ratio": per_s / formula,
        }
    finally:
        stack.stop_workers()


# ------------------------------------------------------------------------------------ main


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def _ms(s: float | None) -> str:
    return "n/a" if s is None else f"{s * 1000:.1f} ms"


def table(r: dict) -> str:
    rows: list[tuple[str, str, str, str]] = []
    d, c, p, g, lg = (r.get(k, {}) for k in ("dramatiq", "celery", "plain", "graph", "lgdev"))
    t = r.get("tasks", {})
    if p or d or (c and not t):  # Celery beside the client's rows only, when plain was not run
        rows.append(
            (
                "no-op e2e, 16 clients (per s)",
                f"{p.get('e2e_per_s', 0):.0f}",
                f"Celery {c.get('per_s', 0):.0f}",
                _ratio(p.get("e2e_per_s"), c.get("per_s")),
            )
        )
        rows.append(
            (
                "  vs raw Dramatiq drain 1x10 (msg/s)",
                f"{p.get('e2e_per_s', 0):.0f}",
                f"Dramatiq {d.get('drain_msgs_per_s') or 0:.0f}",
                _ratio(p.get("e2e_per_s"), d.get("drain_msgs_per_s")),
            )
        )
        rows.append(
            (
                "sequential create->join p50",
                _ms(p.get("seq_p50_s")),
                f"Celery delay().get() {_ms(c.get('seq_p50_s'))}",
                _ratio(c.get("seq_p50_s"), p.get("seq_p50_s")),
            )
        )
        rows.append(
            (
                "sequential create->join p99",
                _ms(p.get("seq_p99_s")),
                f"Celery {_ms(c.get('seq_p99_s'))}",
                _ratio(c.get("seq_p99_s"), p.get("seq_p99_s")),
            )
        )
        rows.append(
            (
                "POST /runs/batch (50/request), runs/s",
                f"{p.get('batch_per_s', 0):.0f}",
                f"Celery {c.get('per_s', 0):.0f}",
                _ratio(p.get("batch_per_s"), c.get("per_s")),
            )
        )
    if t:
        rows.append(
            (
                "callboard client: 16 threads .delay(), all .get() (per s)",
                f"{t['per_s']:.0f}",
                f"Celery {c.get('per_s', 0):.0f}",
                _ratio(t["per_s"], c.get("per_s")),
            )
        )
        for q in ("50", "99"):
            rows.append(
                (
                    f"callboard client: delay().get() p{q}",
                    _ms(t[f"seq_p{q}_s"]),
                    f"Celery delay().get() {_ms(c.get(f'seq_p{q}_s'))}",
                    _ratio(c.get(f"seq_p{q}_s"), t[f"seq_p{q}_s"]),
                )
            )
    if g:
        rows.append(
            (
                "3-node StateGraph, 200 concurrent (per s)",
                f"{g.get('concurrent_per_s', 0):.1f}",
                f"langgraph dev {lg.get('concurrent_per_s', 0):.1f}",
                _ratio(g.get("concurrent_per_s"), lg.get("concurrent_per_s")),
            )
        )
        rows.append(
            (
                "3-node StateGraph, sequential p50",
                _ms(g.get("seq_p50_s")),
                f"langgraph dev {_ms(lg.get('seq_p50_s'))}",
                _ratio(lg.get("seq_p50_s"), g.get("seq_p50_s")),
            )
        )
    for io in r.get("io", []):
        rows.append(
            (
                f"100 ms runs, {io['workers']} worker(s) x 50 (per s)",
                f"{io['per_s']:.0f}",
                f"formula {io['formula_per_s']:.0f}",
                f"{io['ratio']:.2f}x",
            )
        )
    if p:
        rows.append(("per plain run: Postgres transactions", f"{p['xact_per_run']:.2f}", "", ""))
        rows.append(("per plain run: rows written", f"{p['rows_written_per_run']:.2f}", "", ""))
        rows.append(
            (
                "per plain run: worker / web CPU",
                f"{p['worker_cpu_ms']:.2f} / {p['web_cpu_ms']:.2f} ms",
                f"Celery worker {c.get('worker_cpu_ms_per_task', 0):.2f} ms",
                "",
            )
        )
    if "peak_connections" in r:
        rows.append(("peak Postgres connections (stack)", str(r["peak_connections"]), "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)] if rows else [0] * 4
    head = ("what", "Callboard", "peer (same invocation)", "ratio")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(
        f"load average: start {r['load_start']}, end {r.get('load_end')}; "
        f"{os.cpu_count()} CPUs; git {r.get('git')}"
    )
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small counts (development)")
    p.add_argument(
        "--only",
        default="dramatiq,celery,plain,tasks,graph,io",
        help="comma-separated sections",
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
    p.add_argument("--redis-db", type=int, default=14, help="flushed between sections")
    p.add_argument("--io-workers", default="1,2,4")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:  # noqa: PLR0915 - one linear script
    args = parse_args(argv)
    only = set(args.only.split(","))
    q = args.quick
    n_plain, n_seq = (300, 30) if q else (2000, 200)
    n_graph, n_gseq = (200, 10) if q else (200, 50)
    io_rounds = 2 if q else 6

    import psycopg
    import redis

    from migrations import apply_all

    redis_url = f"{args.redis_base}/{args.redis_db}"
    rclient = redis.Redis.from_url(redis_url)
    logdir = Path(tempfile.mkdtemp(prefix="cb_compare_"))
    r: dict[str, Any] = {
        "load_start": tuple(round(x, 2) for x in os.getloadavg()),
        "git": subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
    }
    db_name = f"cb_compare_{secrets.token_hex(4)}"
    database_url = f"{args.pg_admin.rpartition('/')[0]}/{db_name}"

    def admin(sql: str) -> None:
        with psycopg.connect(args.pg_admin, autocommit=True) as c:
            c.execute(sql)

    stack: Stack | None = None
    procs: list[Proc] = []
    try:
        if "dramatiq" in only:
            rclient.flushdb()
            say("raw Dramatiq drain, 1 process x 10 threads")
            r["dramatiq"] = e2e.run_baseline(redis_url, 1000 if q else 5000, 10)
        if "celery" in only:
            rclient.flushdb()
            say("Celery 5 prefork -c 10")
            r["celery"] = bench_celery(redis_url, n_plain, n_seq, logdir)
        if "graph" in only:
            rclient.flushdb()
            say("langgraph dev: 3-node StateGraph")
            lg = start_langgraph_dev(logdir)
            procs.append(lg)
            try:
                r["lgdev"] = bench_graph(f"http://127.0.0.1:{LANGGRAPH_DEV_PORT}", n_graph, n_gseq)
            finally:
                lg.stop()
                shutil.rmtree(PEERS / ".langgraph_api", ignore_errors=True)
        if only & {"plain", "tasks", "graph", "io"}:
            rclient.flushdb()
            admin(f'CREATE DATABASE "{db_name}"')
            apply_all(database_url)
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "CALLBOARD_CONFIG": str(PEERS / "callboard.json"),
                "PYTHONUNBUFFERED": "1",
            }
            env.pop("N_JOBS_PER_WORKER", None)
            stack = Stack(env, logdir, db_name, args.pg_admin)
            base = stack.start_web()
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("SET enable_seqscan = off")  # the bench's polls use the index
                if only & {"plain", "tasks", "graph"}:
                    stack.start_workers(1)
                if "plain" in only:
                    say("Callboard plain no-op runs")
                    r["plain"] = bench_plain(stack, base, conn, n_plain, n_seq)
                if "tasks" in only:
                    say("Callboard: no-op task through the callboard client")
                    r["tasks"] = bench_tasks(base, n_plain, n_seq)
                if "graph" in only:
                    say("Callboard: 3-node StateGraph")
                    r["graph"] = bench_graph(base, n_graph, n_gseq)
                r["peak_connections"] = stack.peak_connections
                stack.stop_workers()
                if "io" in only:
                    r["io"] = []
                    for workers in (int(w) for w in args.io_workers.split(",")):
                        say(f"I/O-bound: {workers} worker(s) x 50, 100 ms runs")
                        r["io"].append(bench_io(stack, base, conn, workers, io_rounds))
        r["load_end"] = tuple(round(x, 2) for x in os.getloadavg())
    except BaseException:
        for p in [*procs, *((stack.workers + [stack.web]) if stack and stack.web else [])]:
            tail = "\n".join(p.output().splitlines()[-20:])
            print(f"--- {p.name} ({p.log}):\n{tail}", file=sys.stderr)
        raise
    finally:
        if stack is not None:
            stack.close()
        for p in procs:
            p.stop()
        admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        rclient.flushdb()
    print(table(r))
    e2e.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = e2e.RESULTS_DIR / f"compare-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(r, indent=2) + "\n")
    print(f"saved {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
