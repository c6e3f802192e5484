"""The tasks API (``app/api/tasks.py``) through the Flask test client on the tests' registry of
tasks (``tests/graphs/celery.json``): bad input is a 4xx with a JSON ``detail`` and writes
nothing; a chain writes its first run and records the later steps as deferred runs only; a
failed step or chord member fails the runs waiting for it in its finish's transaction."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.config import Settings

CONFIG = str(Path(__file__).resolve().parents[1] / "graphs" / "celery.json")


@pytest.fixture
def tasks_client(settings: Settings) -> Iterator[Any]:
    from app import create_app

    flask_app = create_app(dataclasses.replace(settings, config_path=CONFIG))
    yield flask_app.test_client()
    flask_app.extensions["callboard"].close()


def counts(database_url: str) -> tuple[int, int, int]:
    with psycopg.connect(database_url) as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("runs", "deferred_runs", "run_links")
        )


def sig(task: str, *args: Any) -> dict[str, Any]:
    return {"task": task, "input": {"args": list(args), "kwargs": {}}}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (None, 422),
        ([], 422),
        ({"chain": []}, 422),
        ({"chain": [sig("mul", 1, 2)], "group": []}, 422),
        ({"pipeline": [sig("mul", 1, 2)]}, 422),
        ({"chord": {"header": [sig("mul", 1, 2)]}}, 422),
        ({"chord": {"header": "x", "body": sig("tsum")}}, 422),
        ({"group": [{"task": 3}]}, 422),
        ({"group": [{**sig("mul", 1, 2), "priority": 1}]}, 422),
        ({"group": [{**sig("mul", 1, 2), "after_seconds": -1}]}, 422),
        ({"group": [{**sig("mul"), "input": {"args": "no"}}]}, 422),
        ({"group": [sig("mul", 1, 2), sig("no.such.task")]}, 404),  # all or nothing
        ({"chain": [sig("mul", 1, 2), {**sig("mul"), "input": [1]}]}, 422),  # a later step
        ({"chain": [sig("mul", 1, 2), sig("no.such.task")]}, 404),
        ({"chord": {"header": [sig("mul", 1, 2)], "body": sig("no.such.task")}}, 404),
    ],
)
def test_bad_canvases_are_refused_and_write_nothing(
    tasks_client: Any, database_url: str, body: Any, status: int
) -> None:
    resp = tasks_client.post("/tasks/canvas", json=body)
    assert resp.status_code == status, resp.get_json()
    assert isinstance(resp.get_json()["detail"], str)
    assert counts(database_url) == (0, 0, 0)


def test_a_chain_creates_its_first_run_and_defers_the_others(
    tasks_client: Any, database_url: str
) -> None:
    resp = tasks_client.post(
        "/tasks/canvas", json={"chain": [sig("add_one", 1), sig("mul", 10), sig("mul", 2)]}
    )
    assert resp.status_code == 404  # not a task of this registry: nothing written
    resp = tasks_client.post("/tasks/canvas", json={"chain": [sig("mul", 1, 2), sig("mul", 10)]})
    assert resp.status_code == 200, resp.get_json()
    first, second = resp.get_json()["runs"]
    assert first["thread_id"] and second["thread_id"] is None
    assert counts(database_url) == (1, 1, 1)
    run = tasks_client.get(f"/tasks/runs/{first['run_id']}").get_json()
    assert run["status"] == "pending" and run["retries"] == 0
    assert run["kwargs"]["links"] is True
    assert tasks_client.get(f"/tasks/runs/{second['run_id']}").status_code == 404


def test_task_runs_by_id(tasks_client: Any) -> None:
    assert tasks_client.get("/tasks/runs/not-a-uuid").status_code == 422
    assert tasks_client.get(f"/tasks/runs/{uuid.uuid4()}").status_code == 404
    created = tasks_client.post(
        "/runs", json={"assistant_id": "mul", "input": {"args": [2, 3]}, "on_completion": "keep"}
    ).get_json()
    resp = tasks_client.delete(f"/tasks/runs/{created['run_id']}")
    assert resp.status_code == 409  # pending: revoke it first
    assert tasks_client.get(f"/tasks/runs/{created['run_id']}").status_code == 200


def finish_linked(tasks_client: Any, run_id: str, status: str, **result: Any) -> dict:
    """Claim the canvas run ``run_id`` and finish it as a worker does (``workers.tasks.Releases``
    in the finish's transaction); the finished row."""
    from types import SimpleNamespace

    from app.runs import RunStatus
    from app.store import runs as run_store
    from workers.tasks import Releases

    svc = tasks_client.application.extensions["callboard"]
    row = run_store.get(svc.db, uuid.UUID(run_id))
    claim = run_store.claim(svc.db, row["run_id"], row["version"], "test-worker")
    assert claim is not None
    releases = Releases(SimpleNamespace(registry=svc.registry))  # type: ignore[arg-type]
    finished = run_store.finish(svc.db, claim, RunStatus(status), then=releases, **result)
    assert finished is not None
    return finished


def test_a_failed_chain_step_fails_every_later_step(tasks_client: Any, database_url: str) -> None:
    chain = [sig("mul", 1, 2), sig("mul", 10), sig("mul", 3)]
    runs = tasks_client.post("/tasks/canvas", json={"chain": chain}).get_json()["runs"]
    assert counts(database_url) == (1, 2, 2)
    error = {"error": "ValueError", "message": "bad amount"}
    finish_linked(
        tasks_client, runs[0]["run_id"], "error", error=error, output={"__error__": error}
    )
    assert counts(database_url) == (3, 0, 0)  # created failed; nothing left deferred
    for later in runs[1:]:
        run = tasks_client.get(f"/tasks/runs/{later['run_id']}").get_json()
        assert (run["status"], run["error"], run["ended_at"] is not None) == ("error", error, True)
        joined = tasks_client.get(f"/threads/{run['thread_id']}/runs/{later['run_id']}/join")
        assert joined.get_json() == {"__error__": error}


def test_a_failed_chord_member_fails_the_callback_once(
    tasks_client: Any, database_url: str
) -> None:
    chord = {"header": [sig("mul", 1, 2), sig("mul", 3, 4)], "body": sig("tsum")}
    first, second, callback = tasks_client.post("/tasks/canvas", json={"chord": chord}).get_json()[
        "runs"
    ]
    error = {"error": "ValueError", "message": "bad amount"}
    finish_linked(tasks_client, first["run_id"], "error", error=error, output={"__error__": error})
    assert counts(database_url) == (3, 0, 0)
    failed = tasks_client.get(f"/tasks/runs/{callback['run_id']}").get_json()
    assert failed["status"] == "error"
    assert failed["error"] == {
        "error": "ChordError",
        "message": f"Dependency {first['run_id']} raised ValueError('bad amount')",
    }
    # the other member succeeding later creates nothing and leaves the callback as it is
    finish_linked(tasks_client, second["run_id"], "success", output=12)
    assert counts(database_url) == (3, 0, 0)
    assert tasks_client.get(f"/tasks/runs/{callback['run_id']}").get_json() == failed


def test_a_revoked_chord_member_fails_the_callback(tasks_client: Any, database_url: str) -> None:
    chord = {"header": [sig("mul", 1, 2)], "body": sig("tsum")}
    member, callback = tasks_client.post("/tasks/canvas", json={"chord": chord}).get_json()["runs"]
    finish_linked(tasks_client, member["run_id"], "interrupted")
    failed = tasks_client.get(f"/tasks/runs/{callback['run_id']}").get_json()
    assert failed["status"] == "error" and failed["error"]["error"] == "ChordError"
    assert counts(database_url) == (2, 0, 0)


def test_the_sweeper_fails_runs_waiting_for_a_run_revoked_while_pending(
    tasks_client: Any, database_url: str
) -> None:
    from sweeper.results import fail_waiting_runs

    chain = [sig("mul", 1, 2), sig("mul", 10), sig("mul", 3)]
    first, *later = tasks_client.post("/tasks/canvas", json={"chain": chain}).get_json()["runs"]
    cancel = f"/threads/{first['thread_id']}/runs/{first['run_id']}/cancel"
    assert tasks_client.post(cancel).status_code in (200, 202, 204)
    assert tasks_client.get(f"/tasks/runs/{first['run_id']}").get_json()["status"] == "interrupted"
    assert counts(database_url) == (1, 2, 2)  # no worker finished it: the sweeper's part
    db = tasks_client.application.extensions["callboard"].db
    assert fail_waiting_runs(db) == 2
    assert counts(database_url) == (3, 0, 0)
    for run in later:
        failed = tasks_client.get(f"/tasks/runs/{run['run_id']}").get_json()
        assert (failed["status"], failed["error"]["error"]) == (
            "error",
            "UserInterrupt",
        )  # the client: TaskRevokedError
    assert fail_waiting_runs(db) == 0  # once
