"""Test helpers: real processes as a PaaS runs them, polling with deadlines, the ledger."""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def database_url_for(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def wait_for(
    predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: {last!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_ledger(path: Path) -> list[tuple[str, int, int, str]]:
    """``[(run_id, attempt, pid, event)]`` in file order."""
    rows = []
    for line in path.read_text().splitlines():
        run_id, attempt, pid, event = line.split()
        rows.append((run_id, int(attempt), int(pid), event))
    return rows


def executions(path: Path) -> collections.Counter[str]:
    """How many times each run_id started executing."""
    return collections.Counter(r[0] for r in read_ledger(path) if r[3] == "start")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: int, group: bool = False) -> None:
        if group:
            os.killpg(self.popen.pid, sig)
        else:
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)


@dataclass
class Stack:
    """Starts Procfile processes against the test's database and Redis DB."""

    settings: Settings
    tmp: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    def env(self, **overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.settings.database_url,
            REDIS_URL=self.settings.redis_url,
            CALLBOARD_CONFIG=self.settings.config_path,
            N_JOBS_PER_WORKER=str(self.settings.n_jobs_per_worker),
            HEARTBEAT_SECONDS=str(self.settings.heartbeat_seconds),
            SWEEP_INTERVAL_SECONDS=str(self.settings.sweep_interval_seconds),
            SHUTDOWN_GRACE_SECONDS=str(self.settings.shutdown_grace_seconds),
            MAX_ATTEMPTS=str(self.settings.max_attempts),
            RUN_TIMEOUT_SECONDS=str(self.settings.run_timeout_seconds),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def _start(self, name: str, argv: list[str], env: dict[str, str], port: int | None) -> Proc:
        log = self.tmp / f"{name}-{len(self.procs)}.log"
        with open(log, "wb") as handle:  # the child keeps its own copy of the descriptor
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, as a PaaS dyno has
            )
        proc = Proc(name, popen, log, port)
        self.procs.append(proc)
        return proc

    def web(self, threads: int = 32, workers: int = 1, **env: str) -> Proc:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "app:create_app()",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--timeout",
            "0",
            "--graceful-timeout",
            "10",
        ]
        proc = self._start("web", argv, self.env(**env), port)

        def ready() -> bool:
            if proc.popen.poll() is not None:
                raise AssertionError(f"web exited early:\n{proc.output()}")
            try:
                return httpx.get(f"{proc.url}/ok", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=60, interval=0.1, what="web /ok")
        return proc

    def worker(self, **env: str) -> Proc:
        proc = self._start("worker", [sys.executable, "-m", "workers"], self.env(**env), None)
        self._wait_line(proc, "callboard worker ready")
        return proc

    def sweeper(self, **env: str) -> Proc:
        proc = self._start("sweeper", [sys.executable, "-m", "sweeper"], self.env(**env), None)
        self._wait_line(proc, "callboard sweeper ready")
        return proc

    def _wait_line(self, proc: Proc, text: str) -> None:
        def ready() -> bool:
            if proc.popen.poll() is not None:
                raise AssertionError(f"{proc.name} exited early:\n{proc.output()}")
            return text in proc.output()

        wait_for(ready, timeout=60, interval=0.1, what=f"{proc.name} ready")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                try:
                    os.killpg(proc.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()


def make_runtime(settings: Settings) -> Any:
    """A worker ``Runtime`` built as ``python -m workers`` builds it, without the Dramatiq
    ``Worker`` (tests call the actor body directly)."""
    from app.graphs import Registry
    from app.notify import make_redis
    from app.store.db import Database
    from workers.broker import declare_execute_run, make_broker
    from workers.executor import Executor
    from workers.heartbeat import Heartbeats
    from workers.runtime import Runtime, make_worker_id

    registry = Registry.load(settings.config_path)
    db = Database(settings.database_url, max_size=settings.n_jobs_per_worker + 2)
    client = make_redis(settings.redis_url)
    actor = declare_execute_run(make_broker(settings), queue_name=settings.queue_name)
    executor = Executor(
        registry, settings.database_url, settings.n_jobs_per_worker, settings.redis_url
    )
    worker_id = make_worker_id()
    heartbeats = Heartbeats(client, db, executor, settings.heartbeat_seconds, worker_id).start()
    return Runtime(settings, db, client, registry, executor, heartbeats, actor, worker_id)


def close_runtime(rt: Any) -> None:
    rt.heartbeats.stop()
    rt.executor.close()
    rt.db.close()
    rt.redis.close()
    rt.actor.broker.close()
