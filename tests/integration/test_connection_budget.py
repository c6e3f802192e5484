"""The connection budget (``app/capacity.py``): the Procfile's processes stay within 50 Postgres
connections, and a web process whose pool is busy answers a fast 503 with ``Retry-After``."""

from __future__ import annotations

import time
import uuid

from app import capacity


def test_two_web_four_workers_and_the_sweeper_fit_in_fifty_connections():
    assert capacity.connection_budget(web_processes=2, workers=4) <= 50
    # a worker's pools do not grow with its slots (N_JOBS_PER_WORKER=50 for I/O-bound runs)
    assert capacity.worker_pool_max(50) == capacity.worker_pool_max(10)


def test_a_busy_pool_answers_503_with_retry_after_not_a_hang(app, client):
    thread_id = client.post("/threads", json={}).get_json()["thread_id"]
    pool = app.extensions["callboard"].db.pool
    assert pool.max_size == capacity.WEB_DB_POOL_MAX
    held = [pool.getconn() for _ in range(pool.max_size)]
    try:
        for method, path, body in (
            ("GET", f"/threads/{thread_id}", None),
            ("POST", f"/threads/{thread_id}/runs", {"assistant_id": "noop", "input": {}}),
            ("GET", f"/threads/{thread_id}/state", None),
        ):
            started = time.monotonic()
            response = client.open(path, method=method, json=body)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.get_json())
            assert int(response.headers["Retry-After"]) >= 1
            assert "busy" in response.get_json()["detail"]
            assert elapsed < capacity.WEB_POOL_TIMEOUT_SECONDS + 3, (path, elapsed)
    finally:
        for conn in held:
            pool.putconn(conn)
    # nothing was half-written, and the process serves again once connections are free
    assert client.get(f"/threads/{thread_id}/runs").get_json() == []
    assert client.get(f"/threads/{uuid.uuid4()}").status_code == 404
