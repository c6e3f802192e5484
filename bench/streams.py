#!/usr/bin/env python
"""Concurrent SSE streams per web process: how many one ``web`` process sustains, and with what
event latency, for each server configuration given (gunicorn ``gthread`` with N threads, or
``gevent`` with N connections).

One invocation, on this machine, all local:

1. a fresh database ``cb_bench_<random>`` (migrations applied) and the Redis DB ``--redis-db``
   (default 14, flushed at start and end: that DB only); the database is dropped at the end;
2. ONE ``worker`` process (``python -m workers``, ``N_JOBS_PER_WORKER`` = ``--runs``) on the test
   graphs (``tests/graphs/langgraph.json``: ``ticker`` writes a custom event every
   ``--interval`` seconds, stamped with the time it was written);
3. for each configuration in ``--configs`` (e.g. ``gthread:32,gthread:256,gevent:1000``): ONE
   ``web`` process (gunicorn, 1 worker process), then
   - ``--runs`` runs of ``ticker`` (``--ticks`` events each) created over HTTP, and at once
   - ``--streams`` clients (one asyncio process, one HTTP connection each) that join those
     runs' streams from the start (``Last-Event-ID: -``), spread evenly over the runs, and read
     until the stream ends;
   - measured: streams that got their first event, and that got every event; the delay to the
     first event; the event latency (time received by the client − time the graph wrote it,
     same machine clock) of all events ("all": includes the replay of events written before a
     queued stream was served) and of the events written after the stream's first event
     ("live"); the web process's CPU (% of one core), peak RSS and thread count.
4. a report on stdout, and the same as JSON in ``bench/results/`` (git-ignored).

Not a test: nothing is asserted. The machine is shared (2 cores), so repeat before concluding.

    .venv/bin/python bench/streams.py                      # 200 streams, gthread 32 and 256
    .venv/bin/python bench/streams.py --streams 400 --configs gthread:512,gevent:1000

``gevent`` configurations need ``pip install gevent`` (not a dependency of Callboard).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from e2e import (  # noqa: E402 - the sibling benchmark's process and /proc helpers
    Proc,
    free_port,
    percentile,
    start_worker,
    wait_for,
)

RESULTS_DIR = ROOT / "bench" / "results"
REGISTRY = ROOT / "tests" / "graphs" / "langgraph.json"


def start_web(env: dict[str, str], port: int, worker_class: str, size: int, log: Path) -> Proc:
    """gunicorn with 1 worker process: ``gthread`` with ``size`` threads, or ``gevent`` with
    ``size`` worker connections."""
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
        worker_class,
        "--timeout",
        "0",
        "--no-control-socket",
        "--backlog",
        "2048",
    ]
    argv += ["--threads", str(size)] if worker_class == "gthread" else []
    argv += ["--worker-connections", str(size)] if worker_class == "gevent" else []
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


def group_memory(pgid: int) -> tuple[int, int]:
    """(RSS in KiB, threads) summed over the live processes of process group ``pgid``."""
    rss = threads = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            if int(stat[stat.rindex(")") + 2 :].split()[2]) != pgid:
                continue
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return rss, threads


class Sampler:
    """Samples the web process group's RSS and threads every 0.5 s (keeps the maxima)."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.max_rss = self.max_threads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            rss, threads = group_memory(self.pgid)
            self.max_rss = max(self.max_rss, rss)
            self.max_threads = max(self.max_threads, threads)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


async def one_stream(
    http: Any, thread_id: str, run_id: str, ticks: int, started: float
) -> dict[str, Any]:
    """Read one run's stream from the start; what this client saw."""
    out: dict[str, Any] = {"first": None, "ticks": 0, "latencies": [], "live": [], "error": None}
    first_wall = None
    try:
        async with http.stream(
            "GET",
            f"/threads/{thread_id}/runs/{run_id}/stream",
            headers={"Last-Event-ID": "-", "Accept": "text/event-stream"},
        ) as response:
            if response.status_code != 200:
                out["error"] = f"HTTP {response.status_code}"
                return out
            event = None
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    now = time.time()
                    if out["first"] is None:
                        out["first"] = time.monotonic() - started
                        first_wall = now
                    if event == "custom":
                        data = json.loads(line[6:])
                        out["ticks"] += 1
                        out["latencies"].append(now - data["t"])
                        if first_wall is not None and data["t"] >= first_wall:
                            out["live"].append(now - data["t"])
    except Exception as exc:  # noqa: BLE001 - a benchmark reports failures, it does not stop
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


async def stream_phase(
    base_url: str, streams: int, runs: int, ticks: int, interval: float
) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=streams + runs + 10, max_keepalive_connections=0)
    timeout = httpx.Timeout(connect=60, read=ticks * interval + 120, write=60, pool=120)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as http:
        thread_ids = []
        for _ in range(runs):
            thread_ids.append((await http.post("/threads", json={})).json()["thread_id"])
        started = time.monotonic()
        created = await asyncio.gather(
            *(
                http.post(
                    f"/threads/{tid}/runs",
                    json={
                        "assistant_id": "ticker",
                        "input": {"count": ticks, "interval": interval, "stamp": True},
                        "stream_mode": ["custom"],
                        "durability": "exit",
                    },
                )
                for tid in thread_ids
            )
        )
        run_ids = [r.json()["run_id"] for r in created]
        results = await asyncio.gather(
            *(
                one_stream(http, thread_ids[i % runs], run_ids[i % runs], ticks, started)
                for i in range(streams)
            )
        )
        elapsed = time.monotonic() - started
    firsts = [r["first"] for r in results if r["first"] is not None]
    latencies = [x for r in results for x in r["latencies"]]
    live = [x for r in results for x in r["live"]]
    errors = [r["error"] for r in results if r["error"]]
    return {
        "elapsed_s": elapsed,
        "streams_started": len(firsts),
        "streams_complete": sum(1 for r in results if r["ticks"] == ticks and not r["error"]),
        "events_received": sum(r["ticks"] for r in results),
        "events_expected": streams * ticks,
        "first_event_s": {q: percentile(firsts, q) for q in (50, 95, 100)},
        "latency_ms": _ms_percentiles(latencies),
        "live_latency_ms": _ms_percentiles(live),
        "per_stream": [
            {
                "run": i % runs,
                "first_s": r["first"],
                "max_live_ms": max(r["live"], default=0) * 1000,
                "ticks": r["ticks"],
            }
            for i, r in enumerate(results)
        ],
        "errors": errors[:5],
        "error_count": len(errors),
    }


def _ms_percentiles(seconds: list[float]) -> dict[int, float | None]:
    return {
        q: (None if (v := percentile(seconds, q)) is None else v * 1000) for q in (50, 95, 99, 100)
    }


def run_config(
    env: dict[str, str], tmp: Path, config: str, args: argparse.Namespace
) -> dict[str, Any]:
    worker_class, _, size = config.partition(":")
    port = free_port()
    web = start_web(env, port, worker_class, int(size), tmp / f"web-{worker_class}-{size}.log")
    sampler = Sampler(web.popen.pid)
    try:
        cpu0, t0 = web.cpu(), time.monotonic()
        result = asyncio.run(
            stream_phase(
                f"http://127.0.0.1:{port}", args.streams, args.runs, args.ticks, args.interval
            )
        )
        cpu = (web.cpu() - cpu0) / (time.monotonic() - t0) * 100
    finally:
        sampler.stop()
        web.stop()
    result.update(
        config=config,
        web_cpu_percent=cpu,
        web_max_rss_mib=sampler.max_rss / 1024,
        web_max_threads=sampler.max_threads,
    )
    return result


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.streams} streams over {args.runs} runs, {args.ticks} events each, one every "
        f"{args.interval:g} s; one web process per line\n"
    )
    head = (
        f"{'config':>16} {'started':>8} {'complete':>8} {'events':>12} "
        f"{'1st p50/p95/max s':>20} {'all latency p50/p95/p99/max ms':>31} "
        f"{'live latency p50/p95/p99/max':>29} {'CPU%':>5} {'RSS MiB':>8} {'threads':>7}"
    )
    print(head)
    for r in results:
        first = r["first_event_s"]
        lat, live = r["latency_ms"], r["live_latency_ms"]
        print(
            f"{r['config']:>16} {r['streams_started']:>8} {r['streams_complete']:>8} "
            f"{r['events_received']:>5}/{r['events_expected']:<6} "
            f"{fmt(first[50], '.2f'):>6}/{fmt(first[95], '.2f')}/{fmt(first[100], '.2f'):<6} "
            f"{fmt(lat[50], '.0f'):>10}/{fmt(lat[95], '.0f')}/{fmt(lat[99], '.0f')}/"
            f"{fmt(lat[100], '.0f'):<8} "
            f"{fmt(live[50], '.0f'):>10}/{fmt(live[95], '.0f')}/{fmt(live[99], '.0f')}/"
            f"{fmt(live[100], '.0f'):<8} {r['web_cpu_percent']:5.0f} {r['web_max_rss_mib']:8.0f} "
            f"{r['web_max_threads']:7d}"
        )
        for error in r["errors"]:
            print(f"{'':>16} error ({r['error_count']} in all): {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200, help="concurrent SSE clients")
    parser.add_argument("--runs", type=int, default=20, help="runs the streams join")
    parser.add_argument("--ticks", type=int, default=30, help="events per run")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between events")
    parser.add_argument(
        "--configs",
        default="gthread:32,gthread:256",
        help="comma-separated worker-class:size (gthread:THREADS or gevent:CONNECTIONS)",
    )
    parser.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-base", default="redis://127.0.0.1:6379")
    parser.add_argument("--redis-db", type=int, default=14)
    args = parser.parse_args()

    import psycopg
    import redis

    from migrations import apply_all
    from tests.support import database_url_for

    name = f"cb_bench_{secrets.token_hex(4)}"
    database_url = database_url_for(args.pg_admin, name)
    redis_url = f"{args.redis_base}/{args.redis_db}"
    with psycopg.connect(args.pg_admin, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    flush = redis.Redis.from_url(redis_url)
    flush.flushdb()
    results: list[dict[str, Any]] = []
    worker: Proc | None = None
    try:
        apply_all(database_url)
        env = dict(os.environ)
        env.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            CALLBOARD_CONFIG=str(REGISTRY),
            N_JOBS_PER_WORKER=str(args.runs),
            PYTHONUNBUFFERED="1",
        )
        with tempfile.TemporaryDirectory(prefix="cb-bench-streams-") as tmp_name:
            tmp = Path(tmp_name)
            worker = start_worker(env, tmp / "worker.log")
            for config in args.configs.split(","):
                print(f"running {config} ...", flush=True)
                results.append(run_config(env, tmp, config.strip(), args))
            worker.stop()
            worker = None
    finally:
        if worker is not None:
            worker.stop()
        flush.flushdb()
        flush.close()
        with psycopg.connect(args.pg_admin, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report(results, args)
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"streams-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    print(f"\nsaved {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
