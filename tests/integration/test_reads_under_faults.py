"""Reads that answered 500 (issue 11, item 5): the web's checkpointer reads were not retried, its
saver's lock made every state and history read of a web process wait for the one in progress,
and Redis errors of the stream routes were not mapped to an answer."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
import redis
from langgraph.checkpoint.postgres import PostgresSaver

from app.api import streams as stream_api
from workers.actors.execute_run import execute_run


@pytest.fixture
def thread_with_state(client: Any, runtime: Any) -> str:
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    body = {"assistant_id": "accumulate", "input": {"numbers": [1, 2]}}
    run = client.post(f"/threads/{tid}/runs", json=body).get_json()
    execute_run(run["run_id"], 1)
    return tid


def test_a_checkpoint_read_that_fails_once_is_retried(
    client: Any, thread_with_state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = thread_with_state
    checkpoint_id = client.get(f"/threads/{tid}/state").get_json()["checkpoint"]["checkpoint_id"]
    real = PostgresSaver.get_tuple
    failures: list[str] = []

    def get_tuple(self: PostgresSaver, config: Any) -> Any:
        if len(failures) < 1:
            failures.append("x")
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real(self, config)

    monkeypatch.setattr(PostgresSaver, "get_tuple", get_tuple)
    for path in (f"/threads/{tid}/state", f"/threads/{tid}/state/{checkpoint_id}"):
        failures.clear()
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_json())
        assert failures == ["x"]
        assert response.get_json()["values"]["numbers"] == [1, 2]


def test_a_state_read_does_not_wait_for_another_one_in_progress(
    app: Any, client: Any, thread_with_state: str
) -> None:
    """One read holds the web's saver (a long history, say) while another asks for the state."""
    saver = app.extensions["callboard"].saver
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with saver._cursor() as cur:
            entered.set()
            cur.execute("SELECT 1")
            release.wait(30)

    with ThreadPoolExecutor(2) as pool:
        holder = pool.submit(hold)
        try:
            assert entered.wait(10)
            other = pool.submit(client.get, f"/threads/{thread_with_state}/state")
            assert other.result(timeout=15).status_code == 200  # waited 30 s before the fix
        finally:
            release.set()
        holder.result(timeout=30)


def test_a_redis_error_of_a_stream_route_is_a_503(
    client: Any, thread_with_state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(stream_api, "last_entry", down)
    response = client.get(f"/threads/{thread_with_state}/stream")
    assert response.status_code == 503, response.data
    assert "detail" in response.get_json()
