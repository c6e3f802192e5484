"""Resilience, proven by killing things: real ``web``, ``worker`` and ``sweeper`` processes are
SIGKILLed, frozen, signalled, and their Redis and Postgres restarted or flushed; Postgres and the
ledger (``tests/graphs/ledger.py``: one line per start, end and cancel of an attempt, with the
pid) are checked afterwards.

Windows are short: heartbeat 1 s, sweep every 1 s (the ``settings`` fixture). Restarts and
flushes happen on servers of the test's own (``RedisServer``, ``PostgresCluster``), never on the
shared ones.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from app.config import Settings
from app.runs import RunStatus
from tests.support import (
    PostgresCluster,
    Proc,
    RedisServer,
    Stack,
    read_ledger_timed,
    wait_for,
)

pytestmark = pytest.mark.timeout(300)

TERMINAL = {s.value for s in RunStatus if s.terminal}


# --- helpers ------------------------------------------------------------------------------------


def runs_by_id(database_url: str, run_ids: list[str]) -> dict[str, dict]:
    """The rows of ``run_ids`` (a fresh connection each call: it survives server restarts)."""
    with psycopg.connect(database_url, row_factory=dict_row, connect_timeout=5) as conn:
        rows = conn.execute("SELECT * FROM runs WHERE run_id = ANY(%s)", (run_ids,)).fetchall()
    return {str(r["run_id"]): r for r in rows}


def status_of(database_url: str, run_id: Any) -> str:
    """The status of one run (which must exist)."""
    row = runs_by_id(database_url, [str(run_id)]).get(str(run_id))
    assert row is not None, run_id
    return str(row["status"])


def running_on(database_url: str, proc: Proc) -> list[dict]:
    """The runs a worker process holds right now (its pid is in ``worker_id``)."""
    with psycopg.connect(database_url, row_factory=dict_row, connect_timeout=5) as conn:
        return conn.execute(
            "SELECT * FROM runs WHERE status = 'running' AND worker_id LIKE %s",
            (f"%:{proc.pid}:%",),
        ).fetchall()


def started_on(ledger: Path, proc: Proc) -> set[str]:
    """The runs whose graph has started executing in ``proc`` (their ledger ``start`` lines)."""
    return {e.run_id for e in read_ledger_timed(ledger) if e.pid == proc.pid and e.event == "start"}


def wait_started(ledger: Path, proc: Proc, run_ids: list[str]) -> None:
    """Wait until the graph of every run of ``run_ids`` executes in ``proc``."""
    wait_for(
        lambda: started_on(ledger, proc) >= set(run_ids),
        timeout=60,
        what=f"{len(run_ids)} runs executing in {proc.name} {proc.pid}",
    )


def wait_terminal(database_url: str, run_ids: list[str], timeout: float = 120) -> dict[str, dict]:
    """Wait until every run of ``run_ids`` is terminal; return their rows."""

    def done() -> dict[str, dict]:
        rows = runs_by_id(database_url, run_ids)
        if len(rows) == len(run_ids) and all(r["status"] in TERMINAL for r in rows.values()):
            return rows
        return {}

    return wait_for(done, timeout=timeout, interval=0.25, what=f"{len(run_ids)} runs terminal")


def create_runs(url: str, inputs: list[dict], clients: int = 8) -> list[str]:
    """Create one stateless run (kept after it ends) of the ``ledger`` graph per input, over
    HTTP with no client-side retry; every answer must be a 200. Returns the run ids in order."""

    def create(http: httpx.Client, graph_input: dict) -> str:
        response = http.post(
            "/runs",
            json={"assistant_id": "ledger", "input": graph_input, "on_completion": "keep"},
        )
        assert response.status_code == 200, response.text
        return response.json()["run_id"]

    with httpx.Client(base_url=url, timeout=60) as http, ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda i: create(http, i), inputs))


def pid_of(worker_id: str) -> int:
    """``host:pid:random`` → pid."""
    return int(worker_id.split(":")[1])


def ends_by_run(ledger: Path) -> collections.Counter[str]:
    return collections.Counter(e.run_id for e in read_ledger_timed(ledger) if e.event == "end")


def assert_each_run_succeeded_once(rows: dict[str, dict], ledger: Path) -> None:
    """Every run ``success``; exactly one ``end`` line each, by the process and attempt that
    Postgres recorded."""
    assert {r["status"] for r in rows.values()} == {"success"}, collections.Counter(
        r["status"] for r in rows.values()
    )
    ends = [e for e in read_ledger_timed(ledger) if e.event == "end"]
    assert collections.Counter(e.run_id for e in ends) == {run_id: 1 for run_id in rows}
    for e in ends:
        row = rows[e.run_id]
        assert (e.attempt, e.pid) == (row["attempt"], pid_of(row["worker_id"])), e


def stack_on(settings: Settings, tmp: Path, ledger: Path, name: str, **replace: Any) -> Stack:
    """A ``Stack`` on other servers (``replace``: fields of ``Settings``, e.g. ``redis_url``)."""
    directory = tmp / name
    directory.mkdir()
    return Stack(
        dataclasses.replace(settings, **replace),
        directory,
        extra_env={"CALLBOARD_TEST_LEDGER": str(ledger)},
    )


class ApiTraffic:
    """Six clients that, until the ``with`` block ends, create runs (``ledger``, 0.2–1.1 s, kept),
    read each back, search threads and call ``/ok`` without pause and without client-side
    retry. Every call that does not answer 200 is a failure."""

    def __init__(self, url: str, clients: int = 6) -> None:
        self.url = url
        self.clients = clients
        self.created: list[str] = []
        self.failures: list[str] = []
        self.spans: list[tuple[float, float]] = []  # (start, end) of every call, monotonic
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(clients)
        self._futures: list[Any] = []

    def __enter__(self) -> ApiTraffic:
        self._futures = [self._pool.submit(self._loop, n) for n in range(self.clients)]
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        try:
            for future in self._futures:
                future.result(timeout=120)
        finally:
            self._pool.shutdown()

    def wait_for_more_runs(self, n: int, timeout: float = 90) -> None:
        """Wait until ``n`` more runs than now have been created."""
        target = len(self.created) + n
        wait_for(lambda: len(self.created) >= target, timeout=timeout, what=f"{n} more runs")

    def calls_across(self, start: float, end: float) -> list[tuple[float, float]]:
        """The calls in flight at some moment between ``start`` and ``end`` (monotonic)."""
        return [s for s in self.spans if s[0] < end and s[1] > start]

    def _call(self, http: httpx.Client, method: str, path: str, body: Any = None) -> Any:
        t0 = time.monotonic()
        try:
            response = http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            self.failures.append(f"{method} {path}: {exc!r}")
            return None
        finally:
            self.spans.append((t0, time.monotonic()))
        if response.status_code != 200:
            self.failures.append(f"{method} {path}: {response.status_code} {response.text}")
            return None
        return response.json()

    def _loop(self, n: int) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as http:
            i = 0
            while not self._stop.is_set():
                i += 1
                graph_input = {"sleep": 0.2 + (i % 4) * 0.3, "echo": f"{n}-{i}"}
                body = {"assistant_id": "ledger", "input": graph_input, "on_completion": "keep"}
                run = self._call(http, "POST", "/runs", body)
                if run is not None:
                    self.created.append(run["run_id"])
                    self._call(http, "GET", f"/threads/{run['thread_id']}/runs/{run['run_id']}")
                self._call(http, "POST", "/threads/search", {"limit": 5})
                self._call(http, "GET", "/ok")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may restart or flush."""
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_stack(
    settings: Settings, tmp_path: Path, ledger: Path, redis_server: RedisServer
) -> Iterator[Stack]:
    stack = stack_on(settings, tmp_path, ledger, "own-redis", redis_url=redis_server.url(0))
    yield stack
    stack.stop_all()


@pytest.fixture
def pg_cluster() -> Iterator[PostgresCluster]:
    """A Postgres cluster of this test's own, which it may restart."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.destroy()


# --- 1. a worker dies (SIGKILL) or freezes (SIGSTOP) mid-run ----------------------------------


def test_sigkilled_worker_runs_are_requeued_and_finished_by_the_other_once(
    stack: Stack, settings: Settings, ledger: Path
) -> None:
    web = stack.web()
    sweeper = stack.sweeper()
    doomed = stack.worker()
    survivor = stack.worker()
    run_ids = create_runs(web.url, [{"sleep": 4, "echo": i} for i in range(20)])
    # ten runs each (N_JOBS_PER_WORKER = 10, and no worker prefetches beyond its free slots)
    wait_for(
        lambda: len(started_on(ledger, doomed)) == len(started_on(ledger, survivor)) == 10,
        timeout=60,
        what="ten runs executing on each worker",
    )
    victims = sorted(started_on(ledger, doomed))
    bystanders = sorted(started_on(ledger, survivor))
    old_claims = {str(r["run_id"]): r for r in running_on(settings.database_url, doomed)}
    assert set(old_claims) == set(victims) and set(victims + bystanders) == set(run_ids)
    doomed.kill()  # SIGKILL, mid-run: nothing of it gets a chance to clean up
    killed_at = time.time()

    rows = wait_terminal(settings.database_url, victims + bystanders, timeout=90)
    assert_each_run_succeeded_once(rows, ledger)
    starts = [e for e in read_ledger_timed(ledger) if e.event == "start"]
    for run_id in victims:
        row = rows[run_id]
        # attempt 1 died with the doomed worker; attempt 2 ran on the survivor, after the kill
        assert row["attempt"] == 2
        assert pid_of(row["worker_id"]) == survivor.pid
        mine = [(e.attempt, e.pid) for e in starts if e.run_id == run_id]
        assert mine == [(1, doomed.pid), (2, survivor.pid)]
        second = next(e for e in starts if e.run_id == run_id and e.attempt == 2)
        assert second.at > killed_at
        assert row["version"] == old_claims[run_id]["version"] + 3  # requeue, claim, finish
    for run_id in bystanders:
        assert rows[run_id]["attempt"] == 1
    # the requeues were the sweeper's, one per victim
    log = sweeper.output()
    for run_id in victims:
        assert log.count(f"run '{run_id}': heartbeat lapsed, requeued") == 1, run_id

    # a late completion (or hand-back) under a dead attempt's lease changes 0 rows: the store
    # answers None (lease lost), and every victim's row is as its second attempt left it
    from app.store import runs as run_store
    from app.store.db import Database
    from app.store.runs import Claim

    db = Database(settings.database_url, max_size=2)
    try:
        for old in old_claims.values():
            stale = Claim(run=old, claim_token=old["claim_token"], version=old["version"])
            assert run_store.finish(db, stale, RunStatus.SUCCESS, output={"late": True}) is None
            assert run_store.requeue(db, stale, reason="late", max_attempts=3) is None
    finally:
        db.close()
    assert runs_by_id(settings.database_url, victims) == {r: rows[r] for r in victims}


def test_frozen_worker_loses_its_lease_and_its_late_results_change_nothing(
    stack: Stack, settings: Settings, ledger: Path
) -> None:
    """SIGSTOP (a stalled VM, a long GC pause) past the heartbeat window: the sweeper requeues
    the runs, another worker finishes them; when the frozen one wakes up, its attempts find
    their lease gone and write nothing (neither the run nor its checkpoints)."""
    web = stack.web()
    stack.sweeper()
    frozen = stack.worker()
    victims = create_runs(web.url, [{"sleep": 2, "echo": i} for i in range(5)])
    wait_started(ledger, frozen, victims)
    frozen.signal(signal.SIGSTOP)
    try:
        other = stack.worker()
        rows = wait_terminal(settings.database_url, victims, timeout=90)
        assert_each_run_succeeded_once(rows, ledger)
        assert {pid_of(r["worker_id"]) for r in rows.values()} == {other.pid}
        assert {r["attempt"] for r in rows.values()} == {2}
        checkpoints = checkpoints_of(settings.database_url, rows)
    finally:
        frozen.signal(signal.SIGCONT)

    # woken up: each stale attempt notices (lease check, or the fenced checkpoint write or
    # finish) and discards its result
    def stale_attempts_discarded() -> bool:
        log = frozen.output()
        ended = {
            e.run_id
            for e in read_ledger_timed(ledger)
            if e.pid == frozen.pid and e.event in ("end", "cancel")
        }
        return ended == set(victims) and all(
            re.search(rf"run '{run_id}': lease lost.*discarded", log) for run_id in victims
        )

    wait_for(stale_attempts_discarded, timeout=30, what="the frozen worker discarding")
    assert runs_by_id(settings.database_url, victims) == rows  # not one write of theirs landed
    assert checkpoints_of(settings.database_url, rows) == checkpoints
    # and the worker that froze is healthy: it takes new work and finishes it
    other.kill()
    (fresh,) = create_runs(web.url, [{"echo": "after"}])
    row = wait_terminal(settings.database_url, [fresh])[fresh]
    assert row["status"] == "success" and pid_of(row["worker_id"]) == frozen.pid


def checkpoints_of(database_url: str, rows: dict[str, dict]) -> dict[str, list[str]]:
    """The checkpoint ids of the threads of ``rows``, per thread."""
    threads = [str(r["thread_id"]) for r in rows.values()]
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "SELECT thread_id, checkpoint_id FROM checkpoints WHERE thread_id = ANY(%s) "
            "ORDER BY thread_id, checkpoint_id",
            (threads,),
        ).fetchall()
    out: dict[str, list[str]] = collections.defaultdict(list)
    for thread_id, checkpoint_id in found:
        out[thread_id].append(checkpoint_id)
    assert set(out) == set(threads)
    return dict(out)


def test_a_row_held_by_a_stalled_transaction_does_not_stall_the_sweeper(
    settings: Settings,
) -> None:
    """A worker frozen inside a fenced checkpoint write holds its run's row FOR SHARE. The
    sweeper, called directly, requeues the other lapsed runs at once and leaves that one for a
    later tick, instead of waiting behind the lock."""
    from app.notify import make_redis
    from app.queue import declare_execute_run, make_broker
    from app.store import runs as run_store
    from app.store.db import QUERIES, Database
    from sweeper.jobs import REDIS_EPOCH_KEY, requeue_stale_runs
    from tests.integration.run_helpers import db_now, new_run, sql

    db = Database(settings.database_url, max_size=4)
    client = make_redis(settings.redis_url)
    client.set(REDIS_EPOCH_KEY, 0)  # Redis has kept its keys since it started
    broker = make_broker(settings)
    actor = declare_execute_run(broker, queue_name=settings.queue_name)
    try:
        claims = []
        for _ in range(3):
            run = new_run(db)
            claim = run_store.claim(db, run["run_id"], 1, "frozen:1:x")
            assert claim is not None
            claims.append(claim)
        sql(db, "UPDATE runs SET claimed_at = now() - interval '1 minute'")
        held = claims[0]
        with psycopg.connect(settings.database_url, autocommit=True) as stalled:
            with stalled.transaction():
                lease = {"run_id": held.run_id, "claim_token": held.claim_token}
                assert stalled.execute(QUERIES["lock_run_lease"], lease).fetchone()
                report = requeue_stale_runs(
                    db, client, actor, db_now(db), window=1.0, max_attempts=3
                )
                assert (report.stale, report.requeued) == (3, 2)
                assert status_of(settings.database_url, held.run_id) == "running"
                others = {status_of(settings.database_url, c.run_id) for c in claims[1:]}
                assert others == {"pending"}
        # the stalled session is gone: the next tick requeues it
        report = requeue_stale_runs(db, client, actor, db_now(db), window=1.0, max_attempts=3)
        assert report.requeued == 1
        assert status_of(settings.database_url, held.run_id) == "pending"
    finally:
        broker.close()
        client.close()
        db.close()


# --- 2. graceful shutdown: SIGINT / SIGTERM, to the process or its group ----------------------


SHORT_SLEEP = 2.5  # seconds: ends within the grace period
LONG_SLEEP = 6.5  # does not
GRACE = 4.0


@pytest.mark.parametrize("group", [False, True], ids=["process", "group"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_shutdown_finishes_short_runs_and_hands_long_ones_back(
    stack: Stack, settings: Settings, ledger: Path, sig: signal.Signals, group: bool
) -> None:
    web = stack.web()
    stopping = stack.worker(SHUTDOWN_GRACE_SECONDS=str(GRACE))
    long = create_runs(web.url, [{"sleep": LONG_SLEEP, "echo": i} for i in range(4)])
    short = create_runs(web.url, [{"sleep": SHORT_SLEEP, "echo": i} for i in range(4)])
    wait_started(ledger, stopping, short + long)
    signalled_at = time.time()
    stopping.signal(sig, group=group)
    other = stack.worker()  # for the runs handed back
    assert stopping.wait(timeout=GRACE + 30) == 0
    stopped_after = time.time() - signalled_at
    assert stopped_after >= GRACE - 0.5  # it gave the long runs their grace period

    rows = wait_terminal(settings.database_url, short + long, timeout=90)
    assert_each_run_succeeded_once(rows, ledger)
    entries = read_ledger_timed(ledger)
    for run_id in short:  # finished on the stopping worker, within the grace period
        assert pid_of(rows[run_id]["worker_id"]) == stopping.pid
        assert [(e.event, e.pid) for e in entries if e.run_id == run_id] == [
            ("start", stopping.pid),
            ("end", stopping.pid),
        ]
        (end,) = [e for e in entries if e.run_id == run_id and e.event == "end"]
        assert signalled_at < end.at < signalled_at + GRACE  # in flight when signalled
    for run_id in long:  # handed back (not an attempt), then run to the end elsewhere
        assert pid_of(rows[run_id]["worker_id"]) == other.pid
        assert rows[run_id]["attempt"] == 1
        assert [(e.event, e.attempt, e.pid) for e in entries if e.run_id == run_id] == [
            ("start", 1, stopping.pid),
            ("cancel", 1, stopping.pid),
            ("start", 1, other.pid),
            ("end", 1, other.pid),
        ]
        (cancel,) = [e for e in entries if e.run_id == run_id and e.event == "cancel"]
        assert cancel.at >= signalled_at + GRACE - 0.5  # not before the grace period ran out
    assert stopping.output().count("handed back (worker shut down)") == len(long)


def test_a_stopping_worker_takes_no_new_work_during_its_grace_period(
    stack: Stack, settings: Settings, ledger: Path
) -> None:
    """A run created after the signal is left to other workers: the stopping worker has free
    slots for the whole grace period (one long run holds one of ten) and must not claim it."""
    web = stack.web()
    stopping = stack.worker(SHUTDOWN_GRACE_SECONDS=str(GRACE))
    (long,) = create_runs(web.url, [{"sleep": LONG_SLEEP, "echo": 0}])
    wait_started(ledger, stopping, [long])
    stopping.signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM: shutting down" in stopping.output(), timeout=10, what="signal")
    (late,) = create_runs(web.url, [{"sleep": 0, "echo": 1}])
    observed = 0
    while stopping.alive():  # observed for the whole grace period, until the process is gone
        assert status_of(settings.database_url, late) == "pending"
        observed += 1
        time.sleep(0.1)  # the observation's pace, not a wait for anything
    assert stopping.wait(timeout=5) == 0
    assert observed >= 10  # the grace period was actually watched
    assert status_of(settings.database_url, late) == "pending"
    other = stack.worker()
    rows = wait_terminal(settings.database_url, [long, late], timeout=90)
    assert_each_run_succeeded_once(rows, ledger)
    assert pid_of(rows[late]["worker_id"]) == other.pid
    assert [e.pid for e in read_ledger_timed(ledger) if e.run_id == late] == [other.pid] * 2


def test_a_second_signal_during_the_grace_period_hands_back_at_once(
    stack: Stack, settings: Settings, ledger: Path
) -> None:
    web = stack.web()
    stopping = stack.worker(SHUTDOWN_GRACE_SECONDS="120")
    long = create_runs(web.url, [{"sleep": LONG_SLEEP, "echo": i} for i in range(4)])
    wait_started(ledger, stopping, long)
    stopping.signal(signal.SIGTERM, group=True)
    wait_for(lambda: "SIGTERM: shutting down" in stopping.output(), timeout=10, what="1st signal")
    stopping.signal(signal.SIGINT, group=True)
    other = stack.worker()
    assert stopping.wait(timeout=30) == 0  # not the 120 s grace period
    assert "second SIGINT: handing runs back now" in stopping.output()

    rows = wait_terminal(settings.database_url, long, timeout=90)
    assert_each_run_succeeded_once(rows, ledger)
    for run_id in long:
        assert pid_of(rows[run_id]["worker_id"]) == other.pid
        assert rows[run_id]["attempt"] == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_web_stops_accepting_and_finishes_requests_in_flight(
    stack: Stack, settings: Settings, sig: signal.Signals
) -> None:
    """gunicorn (``gunicorn.conf.py`` maps SIGINT to its graceful stop), signalled as a PaaS
    does, on its whole process group: a join in flight still gets its answer; new connections
    are refused meanwhile; exit status 0."""
    web = stack.web()
    stack.worker()
    with httpx.Client(base_url=web.url, timeout=60) as http:
        thread_id = http.post("/threads", json={}).json()["thread_id"]
        run = http.post(
            f"/threads/{thread_id}/runs",
            json={"assistant_id": "ledger", "input": {"sleep": 6, "echo": "joined"}},
        ).json()
    answers: list[httpx.Response] = []
    in_flight = threading.Event()

    def join() -> None:
        with httpx.Client(base_url=web.url, timeout=60) as http:
            in_flight.set()
            answers.append(http.get(f"/threads/{thread_id}/runs/{run['run_id']}/join"))

    # the join is being served once the web process listens for run ends (it starts listening
    # on its first join): then signal
    client = redis.Redis.from_url(settings.redis_url)
    channel_name = f"callboard:{client.connection_pool.connection_kwargs['db']}:run-done"
    try:
        assert client.pubsub_numsub(channel_name) == [(channel_name.encode(), 0)]
        joiner = threading.Thread(target=join)
        joiner.start()
        wait_for(
            lambda: in_flight.is_set() and client.pubsub_numsub(channel_name)[0][1] >= 1,
            timeout=30,
            what="the join in flight",
        )
    finally:
        client.close()
    web.signal(sig, group=True)

    def not_served() -> bool:
        """A new connection gets no answer: refused, or left in the backlog of the listening
        socket that the draining worker no longer accepts on (reset when it exits)."""
        try:
            httpx.get(f"{web.url}/ok", timeout=1)
        except httpx.HTTPError:
            return True
        return False

    wait_for(not_served, timeout=10, interval=0.1, what="new connections not served")
    assert joiner.is_alive(), "the join ended before the run did"  # still in flight, still served
    joiner.join(timeout=60)
    assert [a.status_code for a in answers] == [200]
    assert answers[0].json() == {"ok": True, "echo": "joined"}
    assert web.wait(timeout=30) == 0


# --- 3. Redis restarted or flushed during a batch --------------------------------------------


def _redis_batch(stack: Stack, server: RedisServer, ledger: Path, disrupt: str) -> dict[str, dict]:
    """100 runs of 0.5–3 s on two workers, plus API traffic (``ApiTraffic``) all along; once 30
    of the batch have started, ``disrupt`` Redis (``restart``: down for 2 s; ``flushall``: five
    times, 1.1 s apart, so that sweeps fall between a flush and the next heartbeats). No API
    call may fail. Returns the rows of every run created."""
    web = stack.web()
    sweeper = stack.sweeper()
    stack.worker()
    stack.worker()
    inputs = [{"sleep": 0.5 + (i % 6) * 0.5, "echo": i} for i in range(100)]
    run_ids = create_runs(web.url, inputs)
    with ApiTraffic(web.url, clients=2) as traffic:
        wait_for(
            lambda: sum(1 for e in read_ledger_timed(ledger) if e.event == "start") >= 30,
            timeout=90,
            what="30 runs of the batch started",
        )
        assert running_on_any(stack.settings.database_url), "the disruption must hit live runs"
        t0 = time.monotonic()
        if disrupt == "restart":
            server.restart(down_seconds=2.0)
        else:
            for _ in range(5):
                server.flushall()
                time.sleep(1.1)  # the pace of the flushes, not a synchronisation
        t1 = time.monotonic()
        traffic.wait_for_more_runs(10)
    assert traffic.failures == []
    assert traffic.calls_across(t0, t1), "no API call was in flight during the disruption"
    rows = wait_terminal(stack.settings.database_url, run_ids + traffic.created, timeout=150)
    assert sweeper.alive()
    return rows


def running_on_any(database_url: str) -> int:
    """How many runs are running, on any worker."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("disrupt", ["restart", "flushall"])
def test_redis_lost_during_a_batch_loses_no_run_and_requeues_no_live_one(
    own_redis_stack: Stack, redis_server: RedisServer, ledger: Path, disrupt: str
) -> None:
    rows = _redis_batch(own_redis_stack, redis_server, ledger, disrupt)
    assert_each_run_succeeded_once(rows, ledger)
    # no live run was taken for dead when its heartbeat vanished with Redis
    assert {r["attempt"] for r in rows.values()} == {1}
    starts = collections.Counter(e.run_id for e in read_ledger_timed(ledger) if e.event == "start")
    assert starts == {run_id: 1 for run_id in rows}
    for proc in own_redis_stack.procs:
        assert "heartbeat lapsed" not in proc.output()


def test_the_sweeper_waits_one_window_after_redis_lost_its_keys(
    settings: Settings, redis_server: RedisServer
) -> None:
    """The guard itself, called directly: after a FLUSHALL (Redis long up, keys gone) as after a
    restart, a lapsed run is left alone for one window, then requeued."""
    from app.notify import make_redis
    from app.queue import declare_execute_run, make_broker
    from app.store import runs as run_store
    from app.store.db import Database
    from sweeper.jobs import redis_memory_seconds, requeue_stale_runs
    from tests.integration.run_helpers import db_now, new_run, sql

    window = 1.0
    db = Database(settings.database_url, max_size=2)
    client = make_redis(redis_server.url(0))
    broker = make_broker(dataclasses.replace(settings, redis_url=redis_server.url(0)))
    actor = declare_execute_run(broker, queue_name=settings.queue_name)

    def lapsed_claim() -> uuid.UUID:
        run = new_run(db)
        claim = run_store.claim(db, run["run_id"], 1, "gone:1:x")
        assert claim is not None
        sql(db, "UPDATE runs SET claimed_at = now() - interval '1 minute'")
        return claim.run_id

    def sweep_once() -> Any:
        return requeue_stale_runs(db, client, actor, db_now(db), window=window, max_attempts=3)

    try:
        for disrupt in ("restart", "flushall"):
            if disrupt == "restart":
                redis_server.restart()
            else:
                wait_for(lambda: redis_server.uptime_seconds() >= 3 * window, timeout=10)
                redis_server.flushall()
            run_id = lapsed_claim()
            t0 = time.monotonic()
            report = sweep_once()
            assert report.redis_young and report.requeued == 0, disrupt
            assert status_of(settings.database_url, run_id) == "running"
            wait_for(lambda: sweep_once().requeued == 1, timeout=15, what=f"requeue ({disrupt})")
            assert time.monotonic() - t0 >= window
            assert redis_memory_seconds(client) >= window
            assert status_of(settings.database_url, run_id) == "pending"
    finally:
        broker.close()
        client.close()
        db.close()


def test_a_run_created_while_redis_is_down_is_accepted_and_starts_when_it_is_back(
    own_redis_stack: Stack, redis_server: RedisServer, ledger: Path
) -> None:
    stack = own_redis_stack
    web = stack.web()
    stack.sweeper()
    stack.worker()
    (warm,) = create_runs(web.url, [{"echo": "before"}])
    wait_terminal(stack.settings.database_url, [warm])

    redis_server.stop()
    t0 = time.monotonic()
    (run_id,) = create_runs(web.url, [{"echo": "while down"}])
    accepted_after = time.monotonic() - t0
    row = runs_by_id(stack.settings.database_url, [run_id])[run_id]
    assert row["status"] == "pending"  # durable in Postgres, with no message anywhere
    with httpx.Client(base_url=web.url, timeout=30) as http:  # reads keep answering
        assert http.get(f"/threads/{row['thread_id']}/runs/{run_id}").status_code == 200
    print(f"\nrun created while Redis was down: answered 200 after {accepted_after:.1f} s")
    redis_server.start()

    rows = wait_terminal(stack.settings.database_url, [run_id, warm], timeout=60)
    assert_each_run_succeeded_once(rows, ledger)
    assert rows[run_id]["output"] == {"ok": True, "echo": "while down"}


# --- 4. Postgres restarted during a batch ------------------------------------------------------


@pytest.mark.parametrize("down_seconds", [0.0, 3.0], ids=["restart", "down-3s"])
def test_postgres_restart_during_a_batch_fails_no_api_call_and_ends_every_run(
    settings: Settings,
    tmp_path: Path,
    ledger: Path,
    pg_cluster: PostgresCluster,
    down_seconds: float,
) -> None:
    """Six clients create runs, read them back and search threads without pause (no client-side
    retry) while Postgres restarts (``pg_ctl restart -m fast``: every connection of every
    process is closed), at once or after 3 s down. No live run is taken for dead meanwhile."""
    database_url = pg_cluster.create_database("callboard")
    stack = stack_on(settings, tmp_path, ledger, "own-pg", database_url=database_url)
    try:
        web = stack.web()
        sweeper = stack.sweeper()
        stack.worker()
        stack.worker()
        with ApiTraffic(web.url) as traffic:
            wait_for(
                lambda: len(traffic.created) >= 30 and running_on_any(database_url) > 0,
                timeout=60,
                what="a batch under way, with runs executing",
            )
            started_before = _postmaster_start(database_url)
            restart_from = time.monotonic()
            pg_cluster.restart(down_seconds=down_seconds)
            restart_to = time.monotonic()
            traffic.wait_for_more_runs(30)
        created = traffic.created

        assert _postmaster_start(database_url) > started_before  # it did restart
        assert traffic.failures == []
        in_flight = traffic.calls_across(restart_from, restart_to)
        assert in_flight, "no API call was in flight during the restart"
        rows = wait_terminal(database_url, created, timeout=150)
        assert {r["status"] for r in rows.values()} == {"success"}
        # every run executed to its end, and no attempt of a run executed twice (counted per
        # attempt: a run re-executed after a failed checkpoint write is a new attempt)
        entries = read_ledger_timed(ledger)
        per_attempt = collections.Counter(
            (e.run_id, e.attempt) for e in entries if e.event == "start"
        )
        assert max(per_attempt.values()) == 1, per_attempt.most_common(3)
        assert set(ends_by_run(ledger)) == set(created)
        for e in entries:
            if e.event == "end":
                assert e.attempt <= rows[e.run_id]["attempt"], e
        assert "heartbeat lapsed" not in sweeper.output()  # the heartbeats did not stop
        print(
            f"\nPostgres restart ({restart_to - restart_from:.1f} s): {len(traffic.spans)} API "
            f"calls, {len(in_flight)} in flight across it, none failed; {len(created)} runs, "
            f"max attempt {max(r['attempt'] for r in rows.values())}"
        )
    finally:
        stack.stop_all()


def _postmaster_start(database_url: str) -> Any:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert row is not None
    return row[0]


# --- 5. a run that kills its worker, every time ------------------------------------------------


def test_a_run_that_keeps_crashing_its_worker_ends_as_error_after_max_attempts(
    stack: Stack, settings: Settings, ledger: Path
) -> None:
    web = stack.web()
    stack.sweeper()
    with httpx.Client(base_url=web.url, timeout=60) as http:
        thread_id = http.post("/threads", json={}).json()["thread_id"]
        crasher = http.post(
            f"/threads/{thread_id}/runs",
            json={"assistant_id": "ledger", "input": {"crash": True}},
        ).json()["run_id"]
        # queued behind it on the same thread: it runs once the crasher has given up
        after = http.post(
            f"/threads/{thread_id}/runs",
            json={"assistant_id": "ledger", "input": {"echo": "after"}},
        ).json()["run_id"]

    deaths: list[int] = []

    def crasher_ended() -> bool:
        workers = [p for p in stack.procs if p.name == "worker"]
        if not workers or not workers[-1].alive():  # restart the worker as it dies
            if workers:
                assert workers[-1].wait(timeout=5) == 17, workers[-1].output()
                deaths.append(workers[-1].pid)
            stack.worker(wait=False)  # it may die before it could say it is ready
        row = runs_by_id(settings.database_url, [crasher])[crasher]
        return row["status"] in TERMINAL

    wait_for(crasher_ended, timeout=180, interval=0.2, what="the crashing run to give up")
    row = runs_by_id(settings.database_url, [crasher])[crasher]
    assert row["status"] == "error"
    assert row["attempt"] == settings.max_attempts == 3
    assert row["error"]["error"] == "MaxAttemptsExceeded"
    assert "gave up after 3 attempts" in row["error"]["message"]
    assert "heartbeat lapsed" in row["error"]["message"]
    starts = [(e.attempt, e.pid) for e in read_ledger_timed(ledger) if e.run_id == crasher]
    assert starts == list(zip([1, 2, 3], deaths, strict=True))

    # the thread is not wedged: the run queued behind runs, and a new run is accepted and runs
    with httpx.Client(base_url=web.url, timeout=60) as http:
        joined = http.get(f"/threads/{thread_id}/runs/{after}/join")
        assert joined.json() == {"ok": True, "echo": "after"}
        fresh = http.post(
            f"/threads/{thread_id}/runs/wait",
            json={"assistant_id": "ledger", "input": {"echo": "fresh"}},
        )
        assert fresh.status_code == 200 and fresh.json() == {"ok": True, "echo": "fresh"}
        assert http.get(f"/threads/{thread_id}").json()["status"] == "idle"


# --- 6. two sweepers over the same lapsed runs -------------------------------------------------


def test_two_sweepers_requeue_each_lapsed_run_once(
    stack: Stack, settings: Settings, ledger: Path
) -> None:
    """Runs claimed by a worker that vanished before its first heartbeat; two sweeper processes
    started together. Each run is requeued once (one version bump, one log line across both),
    and executes once when a worker comes."""
    web = stack.web()
    run_ids = create_runs(web.url, [{"echo": i} for i in range(60)])
    with psycopg.connect(settings.database_url, row_factory=dict_row, autocommit=True) as conn:
        claimed = conn.execute(
            "UPDATE runs SET status = 'running', version = version + 1, attempt = 1, "
            "claim_token = gen_random_uuid(), worker_id = 'gone:1:x', "
            "claimed_at = now() - interval '1 minute' WHERE run_id = ANY(%s) RETURNING *",
            (run_ids,),
        ).fetchall()
    assert len(claimed) == len(run_ids)
    versions = {str(r["run_id"]): r["version"] for r in claimed}

    sweepers = [stack.sweeper(wait=False), stack.sweeper(wait=False)]
    for proc in sweepers:
        stack.wait_ready(proc)
    wait_for(
        lambda: (
            {r["status"] for r in runs_by_id(settings.database_url, run_ids).values()}
            == {"pending"}
        ),
        timeout=60,
        what="every lapsed run requeued",
    )
    rows = runs_by_id(settings.database_url, run_ids)
    for run_id, row in rows.items():
        assert row["version"] == versions[run_id] + 1  # one transition, not two
        assert row["attempt"] == 1
    logs = "".join(p.output() for p in sweepers)
    for run_id in run_ids:
        assert logs.count(f"run '{run_id}': heartbeat lapsed, requeued") == 1

    stack.worker()
    rows = wait_terminal(settings.database_url, run_ids, timeout=90)
    assert_each_run_succeeded_once(rows, ledger)
    assert {r["attempt"] for r in rows.values()} == {2}
    starts = collections.Counter(e.run_id for e in read_ledger_timed(ledger) if e.event == "start")
    assert starts == {run_id: 1 for run_id in run_ids}
