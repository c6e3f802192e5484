"""Request-side limits (``app/api/limits.py``, ``CALLBOARD_*`` settings): JSON nesting depth, the
cap on long-lived requests per web process, the batch and history caps, the API's
``statement_timeout``. Through the Flask test client on a real Postgres and Redis."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from app import create_app
from app.config import Settings
from app.errors import QueryTimeout
from app.store.db import Database


def nested(depth: int) -> str:
    """A JSON object ``{"metadata": {"a": [[[...]]]}}`` whose arrays nest ``depth`` deep."""
    return '{"metadata": {"a": ' + "[" * depth + "]" * depth + "}}"


def thread_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM threads").fetchone()[0]  # type: ignore[index]


@pytest.mark.parametrize("depth", [150, 900, 1000, 5000])
@pytest.mark.parametrize(
    "path", ["/threads", "/assistants/search", "/runs", "/store/items", "/runs/crons"]
)
def test_deeply_nested_json_is_a_422_and_writes_nothing(
    client: Any, database_url: str, path: str, depth: int
) -> None:
    method = client.put if path == "/store/items" else client.post
    response = method(path, data=nested(depth), content_type="application/json")
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert "nested" in response.get_json()["detail"]
    assert thread_count(database_url) == 0


def test_json_as_deep_as_allowed_is_accepted(client: Any) -> None:
    response = client.post("/threads", data=nested(90), content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


@pytest.fixture
def small_app(settings: Settings) -> Iterator[Any]:
    """The app with room for two long-lived requests and batches of three runs."""
    app = create_app(dataclasses.replace(settings, max_streams=2, max_batch_runs=3))
    yield app
    app.extensions["callboard"].close()


def test_a_full_stream_pool_answers_503_with_retry_after(small_app: Any) -> None:
    client = small_app.test_client()
    with client.post("/threads", json={}) as created:
        tid = created.get_json()["thread_id"]
    first = client.get(f"/threads/{tid}/stream", buffered=False)
    second = client.get(f"/threads/{tid}/stream", buffered=False)
    assert (first.status_code, second.status_code) == (200, 200)
    for method, path, body in [
        ("GET", f"/threads/{tid}/stream", None),
        ("POST", "/runs/wait", {"assistant_id": "noop", "input": {}}),
        ("POST", "/runs/stream", {"assistant_id": "noop", "input": {}}),
        ("GET", f"/threads/{tid}/runs/{tid}/join", None),
        ("GET", f"/threads/{tid}/runs/{tid}/stream", None),
    ]:
        with client.open(path, method=method, json=body) as refused:
            assert refused.status_code == 503, (path, refused.get_data(as_text=True))
            assert int(refused.headers["Retry-After"]) > 0
            assert "streams" in refused.get_json()["detail"]
    # short requests are not held back, and a refused wait created no run
    with client.get(f"/threads/{tid}") as response:
        assert response.status_code == 200
    # a closed stream frees its slot
    first.close()
    third = client.get(f"/threads/{tid}/stream", buffered=False)
    assert third.status_code == 200
    second.close()
    third.close()
    assert small_app.extensions["callboard.slots"].in_use == 0


def test_a_refused_request_holds_no_slot(small_app: Any) -> None:
    client = small_app.test_client()
    missing = "00000000-0000-0000-0000-000000000000"
    for _ in range(5):  # 404s and 422s of long-lived routes release what they took
        with client.get("/threads/not-a-uuid/stream") as response:  # the server closes it
            assert response.status_code == 422
        with client.get(f"/threads/{missing}/runs/{missing}/stream") as response:
            assert response.status_code == 404
    assert small_app.extensions["callboard.slots"].in_use == 0


def test_batches_are_capped(small_app: Any, database_url: str) -> None:
    client = small_app.test_client()
    items = [{"assistant_id": "noop", "input": {}}] * 4
    response = client.post("/runs/batch", json=items)
    assert response.status_code == 422
    assert "CALLBOARD_MAX_BATCH_RUNS" in response.get_json()["detail"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # type: ignore[index]
    assert client.post("/runs/batch", json=items[:3]).status_code == 200


def test_history_limit_is_capped(client: Any) -> None:
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    assert client.post(f"/threads/{tid}/history", json={"limit": 1001}).status_code == 422
    assert client.get(f"/threads/{tid}/history?limit=1001").status_code == 422
    assert client.post(f"/threads/{tid}/history", json={"limit": 1000}).status_code == 200


def test_api_queries_run_under_a_statement_timeout(app: Any, database_url: str) -> None:
    db = app.extensions["callboard"].db
    shown = db.run(lambda conn: conn.execute("SHOW statement_timeout").fetchone(), "show")
    assert shown["statement_timeout"] == "30s"
    short = Database(database_url, statement_timeout_seconds=0.2, retry_seconds=30)
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            short.run(lambda conn: conn.execute("SELECT pg_sleep(5)"), "slow")
        assert time.monotonic() - started < 4  # cancelled, and not retried
    finally:
        short.close()
