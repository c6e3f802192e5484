"""The Celery programming model (``callboard`` client, issue 13) against real processes: gunicorn,
``python -m workers`` and ``python -m sweeper`` on ``tests/graphs/celery.json``, whose ``"tasks"``
module (``tests/graphs/celery_tasks.py``) this test imports too, as a Celery caller would.

Executions are counted from the tasks' ledger (``CALLBOARD_TEST_LEDGER``), not from Callboard.
"""

from __future__ import annotations

import datetime
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

import callboard
from tests.graphs import celery_tasks as tasks
from tests.graphs.celery_tasks import PaymentDeclined, executions
from tests.support import Proc, Stack, wait_for

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "tests" / "graphs" / "celery.json")


@dataclass
class Celery:
    stack: Stack
    web: Proc
    env: dict[str, str]
    ledger: Path
    database_url: str

    def worker(self, *argv: str, **env: str) -> Proc:
        """``python -m workers`` with ``argv`` (e.g. ``--queues a``), ready to consume."""
        proc = self.stack._start(
            "worker",
            [sys.executable, "-m", "workers", *argv],
            self.stack.env(**self.env, **env),
            None,
        )
        self.stack.wait_ready(proc)
        return proc

    def starts(self, token: str) -> list[list[str]]:
        return executions(token, path=self.ledger)

    def run(self, result: callboard.AsyncResult) -> dict:
        return tasks.app.request("GET", f"/tasks/runs/{result.id}")


@pytest.fixture
def celery(stack: Stack, ledger: Path) -> Iterator[Celery]:
    env = {"CALLBOARD_CONFIG": CONFIG}
    web = stack.web(**env)
    stack.sweeper(**env)
    tasks.app.url = web.url
    yield Celery(stack, web, env, ledger, stack.settings.database_url)
    tasks.app.close()


def test_delay_get_state_and_result_by_id(celery: Celery) -> None:
    celery.worker()
    result = tasks.add.delay(2, 3)
    assert result.get(timeout=30) == 5
    assert (result.state, result.ready(), result.successful()) == ("SUCCESS", True, True)
    assert result.id and tasks.add.name == "tests.graphs.celery_tasks.add"
    assert tasks.mul.apply_async((6, 7)).get(timeout=30) == 42
    again = tasks.app.AsyncResult(result.id)  # by id alone, as Celery's app.AsyncResult
    assert (again.state, again.get(timeout=10)) == ("SUCCESS", 5)

    running = tasks.nap.delay("nap-state", 30)
    wait_for(lambda: celery.starts("nap-state"), timeout=30, what="nap started")
    assert running.state == "STARTED" and not running.ready()
    running.revoke()


def test_get_raises_the_tasks_error_by_type(celery: Celery) -> None:
    celery.worker()
    with pytest.raises(ValueError, match="bad amount"):
        tasks.fail.delay("value", "bad amount").get(timeout=30)
    declined = tasks.fail.delay("custom", "card declined")
    with pytest.raises(PaymentDeclined, match="card declined"):
        declined.get(timeout=30)
    assert declined.state == "FAILURE" and not declined.successful()
    returned = declined.get(timeout=30, propagate=False)
    assert isinstance(returned, PaymentDeclined)
    # a caller that does not import the task's module gets TaskError with the type's name
    with callboard.Callboard(celery.web.url) as other:
        with pytest.raises(callboard.TaskError) as caught:
            other.AsyncResult(declined.id).get(timeout=30)
    assert caught.value.type == "PaymentDeclined"


def test_get_timeout(celery: Celery) -> None:
    celery.worker()
    result = tasks.nap.delay("nap-timeout", 30)
    started = time.monotonic()
    with pytest.raises(callboard.TimeoutError):
        result.get(timeout=1)
    assert 0.9 <= time.monotonic() - started < 10
    result.revoke()


def test_countdown_and_eta_are_honoured(celery: Celery) -> None:
    celery.worker()
    sent = time.time()
    by_countdown = tasks.stamp.apply_async(("countdown",), countdown=2)
    eta = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2.5)
    by_eta = tasks.stamp.apply_async(("eta",), eta=eta)
    assert by_countdown.state == "PENDING"
    assert by_countdown.get(timeout=30) >= sent + 2
    assert by_eta.get(timeout=30) >= eta.timestamp()
    assert len(celery.starts("countdown")) == len(celery.starts("eta")) == 1


def test_revoke_pending_and_running(celery: Celery) -> None:
    celery.worker()
    pending = tasks.stamp.apply_async(("never",), countdown=60)
    pending.revoke()
    with pytest.raises(callboard.TaskRevokedError):
        pending.get(timeout=10)
    assert pending.state == "REVOKED"

    running = tasks.nap.delay("revoked-running", 60)
    wait_for(lambda: celery.starts("revoked-running"), timeout=30, what="nap started")
    running.revoke()
    with pytest.raises(callboard.TaskRevokedError):
        running.get(timeout=30)
    assert running.state == "REVOKED"
    assert len(celery.starts("revoked-running")) == 1
    assert executions("revoked-running", "cancel", celery.ledger)
    assert not executions("revoked-running", "end", celery.ledger)
    assert not celery.starts("never")


def test_the_same_tasks_over_http(celery: Celery) -> None:
    celery.worker()
    with httpx.Client(base_url=celery.web.url, timeout=30) as http:
        run = http.post(
            "/runs",
            json={
                "assistant_id": "mul",
                "input": {"args": [6], "kwargs": {"y": 7}},
                "on_completion": "keep",
            },
        ).json()
        joined = http.get(f"/threads/{run['thread_id']}/runs/{run['run_id']}/join")
        assert joined.json() == 42
        bad = http.post("/runs", json={"assistant_id": "mul", "input": {"x": 1}})
        assert bad.status_code == 422 and "args" in bad.json()["detail"]


def test_autoretry_with_backoff_runs_each_attempt_once(celery: Celery) -> None:
    celery.worker()
    result = tasks.flaky.delay("flaky-2", 2)  # fails twice, then succeeds
    assert result.get(timeout=60) == 3
    starts = [float(line[3]) for line in celery.starts("flaky-2")]
    assert len(starts) == 3  # exactly three executions
    # retry_backoff=0.5, no jitter: 0.5 s then 1 s
    assert starts[1] - starts[0] >= 0.5 and starts[2] - starts[1] >= 1.0
    run = celery.run(result)
    assert (run["retries"], run["attempt"]) == (2, 3)

    # max_retries=3: four executions, then the task's own error; MAX_ATTEMPTS (3) does not cap
    # them (retries are counted apart from infrastructure attempts)
    exhausted = tasks.flaky.delay("flaky-10", 10)
    with pytest.raises(ConnectionError, match="execution 4"):
        exhausted.get(timeout=60)
    assert len(celery.starts("flaky-10")) == 4
    assert celery.run(exhausted)["retries"] == 3


def test_queues_are_routed_to_the_workers_that_consume_them(celery: Celery) -> None:
    default = celery.worker()
    alpha = celery.worker("--queues", "alpha")
    beta = celery.worker(CALLBOARD_QUEUES="beta")
    assert tasks.where.delay("q-alpha").get(timeout=30) == alpha.pid  # the task's queue
    assert tasks.where.apply_async(("q-beta",), queue="beta").get(timeout=30) == beta.pid
    tasks.stamp.delay("q-default").get(timeout=30)
    assert int(celery.starts("q-default")[0][1]) == default.pid


def test_rate_limit_holds_across_two_workers(celery: Celery) -> None:
    first = celery.worker(N_JOBS_PER_WORKER="4")
    second = celery.worker(N_JOBS_PER_WORKER="4")
    results = [tasks.limited.delay("limited") for _ in range(40)]
    for result in results:
        result.get(timeout=60)
    starts = sorted(float(line[3]) for line in celery.starts("limited"))
    assert len(starts) == 40
    rate = (len(starts) - 1) / (starts[-1] - starts[0])
    assert abs(rate - 10) <= 1.0, f"measured {rate:.2f} starts/s for a limit of 10/s"
    pids = {int(line[1]) for line in celery.starts("limited")}
    assert pids == {first.pid, second.pid}


def test_chain_group_and_chord(celery: Celery) -> None:
    celery.worker()
    flow = callboard.chain(tasks.add.s(1, 2), tasks.mul.s(10), tasks.add.s(5))
    assert flow.apply_async().get(timeout=60) == 35  # ((1 + 2) * 10) + 5
    piped = (tasks.add.s(2, 2) | tasks.mul.s(3)).apply_async()
    assert piped.get(timeout=60) == 12
    assert piped.parents[0].get(timeout=10) == 4

    together = callboard.group(tasks.add.s(i, i) for i in range(5)).apply_async()
    assert together.get(timeout=60) == [0, 2, 4, 6, 8]

    fan_in = callboard.chord([tasks.add.s(1, 1), tasks.add.s(2, 2), tasks.add.s(3, 3)])(
        tasks.collect.s("chord-cb")
    )
    assert fan_in.get(timeout=60) == 12
    assert len(celery.starts("chord-cb")) == 1

    broken = callboard.chain(tasks.fail.s("value", "step one"), tasks.add.s(1)).apply_async()
    with pytest.raises(ValueError, match="step one"):
        broken.get(timeout=60)
    assert broken.state == "FAILURE"  # never run: failed with the step's error, as Celery's
    with pytest.raises(ValueError, match="step one"):
        callboard.AsyncResult(broken.id, app=tasks.app).get(timeout=10)

    members = [tasks.add.s(1, 1), tasks.fail.s("value", "member two")]
    failed_chord = callboard.chord(members)(tasks.collect.s("failed-chord-cb"))
    with pytest.raises(ValueError, match="member two"):  # get waits for the members first
        failed_chord.get(timeout=60)
    by_id = callboard.AsyncResult(failed_chord.id, app=tasks.app)  # the callback alone
    with pytest.raises(callboard.ChordError, match="member two"):
        by_id.get(timeout=60)
    assert by_id.state == "FAILURE"
    assert celery.starts("failed-chord-cb") == []


def test_chord_callback_once_when_a_members_worker_is_killed(celery: Celery) -> None:
    doomed = celery.worker()
    members = [tasks.member.s(f"m{i}", i, 60.0 if i == 0 else 0.0) for i in range(3)]
    result = callboard.chord(members)(tasks.collect.s("killed-cb"))
    wait_for(lambda: celery.starts("m0"), timeout=30, what="the hanging member started")
    doomed.kill()  # SIGKILL mid-run: the sweeper requeues the member once its heartbeat lapses
    celery.worker()
    assert result.get(timeout=90) == 0 + 1 + 2
    assert len(celery.starts("m0")) == 2  # the killed execution and the one that finished
    assert len(celery.starts("killed-cb")) == 1


def test_enqueue_in_follows_the_callers_transaction(celery: Celery) -> None:
    celery.worker()
    with psycopg.connect(celery.database_url) as conn:
        with pytest.raises(RuntimeError):
            with conn.transaction():
                rolled = tasks.app.enqueue_in(conn, tasks.stamp.s("rolled-back"))
                raise RuntimeError("the caller's work failed")
        with conn.transaction():
            committed = tasks.app.enqueue_in(conn, tasks.stamp.s("committed"))
            # not visible to anyone before COMMIT
            with pytest.raises(callboard.APIError) as missing:
                celery.run(committed)
            assert missing.value.status == 404
    assert committed.get(timeout=30) > 0
    with pytest.raises(callboard.APIError) as gone:
        celery.run(rolled)
    assert gone.value.status == 404
    assert len(celery.starts("committed")) == 1 and not celery.starts("rolled-back")


def test_result_expires(celery: Celery) -> None:
    celery.worker()
    with httpx.Client(base_url=celery.web.url, timeout=30) as http:
        run = http.post(
            "/runs",
            json={
                "assistant_id": "mul",
                "input": {"args": [2, 3]},
                "on_completion": "keep",
                "config": {"configurable": {"result_expires": 1}},
            },
        ).json()
    result = tasks.app.AsyncResult(run["run_id"])
    assert result.get(timeout=30) == 6

    def expired() -> bool:
        try:
            celery.run(result)
        except callboard.APIError as exc:
            return exc.status == 404
        return False

    wait_for(expired, timeout=30, what="the sweeper to delete the expired result")
