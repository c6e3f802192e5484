"""Test helpers: real processes as a PaaS runs them, polling with deadlines, the ledger, and
Redis and Postgres servers of a test's own (``RedisServer``, ``PostgresCluster``) for the tests
that restart, flush or stop them."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

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
    """``[(run_id, attempt, pid, event)]`` of the ``start`` and ``end`` lines, in file order
    (``read_ledger_timed`` has every line, ``cancel`` too, with its time)."""
    return [
        (e.run_id, e.attempt, e.pid, e.event)
        for e in read_ledger_timed(path)
        if e.event in ("start", "end")
    ]


class LedgerEntry(NamedTuple):
    """One line of the ledger (``tests/graphs/ledger.py``); ``at`` is a Unix time in seconds."""

    run_id: str
    attempt: int
    pid: int
    event: str  # start | end | cancel
    at: float


def read_ledger_timed(path: Path) -> list[LedgerEntry]:
    """Every line of the ledger, in file order."""
    rows = []
    for line in path.read_text().splitlines():
        run_id, attempt, pid, event, *rest = line.split()
        at = float(rest[0]) if rest else 0.0
        rows.append(LedgerEntry(run_id, int(attempt), int(pid), event, at))
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

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the process's whole group (a crash, an OOM kill) and reap it."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=30)


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

    def worker(self, wait: bool = True, **env: str) -> Proc:
        """Start ``python -m workers``; with ``wait``, return once it consumes."""
        proc = self._start("worker", [sys.executable, "-m", "workers"], self.env(**env), None)
        if wait:
            self.wait_ready(proc)
        return proc

    def sweeper(self, wait: bool = True, **env: str) -> Proc:
        """Start ``python -m sweeper``; with ``wait``, return once its scheduler starts."""
        proc = self._start("sweeper", [sys.executable, "-m", "sweeper"], self.env(**env), None)
        if wait:
            self.wait_ready(proc)
        return proc

    def wait_ready(self, proc: Proc) -> None:
        """Wait for the ready line a worker or sweeper prints (AssertionError if it exits)."""
        self._wait_line(proc, f"callboard {proc.name} ready")

    def _wait_line(self, proc: Proc, text: str) -> None:
        def ready() -> bool:
            if proc.popen.poll() is not None:
                raise AssertionError(f"{proc.name} exited early:\n{proc.output()}")
            return text in proc.output()

        wait_for(ready, timeout=90, interval=0.1, what=f"{proc.name} ready")

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
    from app.queue import declare_execute_run, make_broker
    from app.store.db import Database
    from workers.executor import Executor
    from workers.heartbeat import Heartbeats, make_beat_client
    from workers.runtime import Runtime, make_worker_id

    registry = Registry.load(settings.config_path)
    db = Database(settings.database_url, max_size=settings.n_jobs_per_worker + 2)
    client = make_redis(settings.redis_url)
    actor = declare_execute_run(make_broker(settings), queue_name=settings.queue_name)
    executor = Executor(
        registry, settings.database_url, settings.n_jobs_per_worker, settings.redis_url
    )
    worker_id = make_worker_id()
    beat_client = make_beat_client(settings.redis_url, settings.heartbeat_seconds)
    heartbeats = Heartbeats(
        beat_client, db, executor, settings.heartbeat_seconds, worker_id
    ).start()
    return Runtime(settings, db, client, registry, executor, heartbeats, actor, worker_id)


def close_runtime(rt: Any) -> None:
    rt.heartbeats.stop()
    rt.heartbeats.client.close()
    rt.executor.close()
    rt.db.close()
    rt.redis.close()
    rt.actor.broker.close()


# --- throwaway servers: Redis and Postgres that a test may restart, flush or kill --------------


class RedisServer:
    """A ``redis-server`` of the test's own on a free port (no persistence), never the shared
    one: tests restart and ``FLUSHALL`` it.

    Parameters:
        tmp: directory for its log (and working directory).
    """

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.log = tmp / f"redis-{self.port}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        """Start it and wait until it answers PING (at most 30 s)."""
        argv = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.tmp),
        ]
        with open(self.log, "ab") as handle:
            self.popen = subprocess.Popen(
                argv, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(self.ping, timeout=30, interval=0.05, what=f"redis-server on {self.port}")
        return self

    def ping(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Kill it (SIGKILL: everything it held is gone, as after a crash)."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=30)
        self.popen = None

    def restart(self, down_seconds: float = 0.0) -> None:
        """Kill it, keep it down for ``down_seconds`` (the length of the outage), start it again
        on the same port, empty."""
        self.stop()
        if down_seconds:
            time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    def flushall(self) -> None:
        import redis

        client = redis.Redis(port=self.port)
        try:
            client.flushall()
        finally:
            client.close()

    def uptime_seconds(self) -> float:
        import redis

        client = redis.Redis(port=self.port)
        try:
            return float(client.info("server")["uptime_in_seconds"])
        finally:
            client.close()


def _postgres_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` (Debian layout), else ``pg_config``'s."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    if candidates:
        return candidates[0]
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


class PostgresCluster:
    """A Postgres cluster of the test's own (``initdb`` into a temporary directory, a free port,
    trust authentication on 127.0.0.1), never the shared one: tests restart it.

    As root the server runs as the ``postgres`` OS user (Postgres refuses to run as root), in a
    directory that user owns. ``fsync`` is off: durability across an OS crash is not what these
    tests are about, and it spares the shared disk.
    """

    def __init__(self, bindir: Path | None = None) -> None:
        """``bindir``: the server's programs (default: the machine's newest Postgres)."""
        import pwd

        self.bindir = bindir or _postgres_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="callboard-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
            "-E", "UTF8", "--locale", "C",
        )  # fmt: skip

    def _run(self, tool: str, *args: str, timeout: float = 120) -> None:
        argv = [*self._as, str(self.bindir / tool), *args]
        done = subprocess.run(argv, cwd=self.dir, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"{tool} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def _ctl(self, action: str, *args: str) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
            "-t", "60", *args,
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresCluster:
        self._ctl("start")
        return self

    def restart(self, down_seconds: float = 0.0) -> None:
        """``pg_ctl restart -m fast``: every connection is closed, in-flight transactions roll
        back; returns when the server accepts connections again. ``down_seconds``: stop, stay
        down that long (the length of the outage), then start."""
        if not down_seconds:
            self._ctl("restart", "-m", "fast")
            return
        self._ctl("stop", "-m", "fast")
        time.sleep(down_seconds)
        self._ctl("start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop", "-m", "immediate")

    def create_database(self, name: str) -> str:
        """Create database ``name`` with every migration applied; return its URL."""
        import psycopg

        from migrations import apply_all

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = self.url(name)
        apply_all(url)
        return url

    def destroy(self) -> None:
        """Stop the server and delete its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# --- network faults: a proxy the test can cut, a receiver that tarpits -------------------------


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target_port`` (one thread pair per connection), so that a
    test can cut one process from a server while the others still reach it: ``cut(seconds)``
    drops every connection through it and refuses new ones for ``seconds``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._cut_until = 0.0
        self.cuts = 0
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def cut(self, seconds: float) -> None:
        """Drop every connection now and refuse new ones for ``seconds``."""
        with self._lock:
            self._cut_until = time.monotonic() + seconds
            self.cuts += 1
            conns, self._conns = self._conns, []
        for conn in conns:
            _close(conn)

    def close(self) -> None:
        self.cut(1e9)
        _close(self.server)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with self._lock:
                refused = time.monotonic() < self._cut_until
            if refused:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class Tarpit:
    """An HTTP "receiver" on 127.0.0.1 that reads each request, sends ``prefix`` and then one
    byte every 0.2 s until stopped (a webhook endpoint that tarpits). ``connections`` counts the
    requests it got."""

    HEADERS = b"HTTP/1.1 200 OK\r\nX-Slow: "  # never ends its headers
    BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n"  # a body that never ends

    def __init__(self, prefix: bytes = HEADERS) -> None:
        self.prefix = prefix
        self.stopped = threading.Event()
        self.connections = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._dribble, args=(conn,), daemon=True).start()

    def _dribble(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(self.prefix)
                while not self.stopped.wait(0.2):
                    conn.sendall(b"a")
            except OSError:
                return  # the sender gave up and closed

    def stop(self) -> None:
        self.stopped.set()
        self.server.close()
