"""The tasks API (``app/api/tasks.py``) through the Flask test client on the tests' registry of
tasks (``tests/graphs/celery.json``): bad input is a 4xx with a JSON ``detail`` and writes
nothing; a chain writes its first run and records the later steps as deferred runs only."""

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
