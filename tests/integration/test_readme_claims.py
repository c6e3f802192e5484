"""Claims of the README that no test showed (issue 11, item 11): Idempotency-Keys are kept
24 hours, a webhook URL is checked again before each POST, the webhook backoff is capped at an
hour, and ``RUN_TIMEOUT_SECONDS`` ends a run as ``timeout``."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

import pytest

from app.store import runs as run_store
from app.store import webhooks as webhook_store
from app.webhooks import WebhookPolicy
from sweeper.webhooks import retry_webhooks
from tests.integration.run_helpers import new_run
from tests.support import close_runtime, make_runtime
from workers import runtime as runtime_module
from workers.actors.execute_run import execute_run


def _later(hours: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=hours)


def test_an_idempotency_key_is_kept_24_hours(client: Any, runtime: Any) -> None:
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    headers = {"Idempotency-Key": "order-42"}
    first = client.post(
        f"/threads/{tid}/runs", json={"assistant_id": "noop"}, headers=headers
    ).get_json()
    other = {"assistant_id": "noop", "input": {"x": 1}}
    assert client.post(f"/threads/{tid}/runs", json=other, headers=headers).status_code == 422
    assert retry_webhooks(runtime.db, _later(23)).purged_keys == 0  # kept within 24 h
    replay = client.post(f"/threads/{tid}/runs", json={"assistant_id": "noop"}, headers=headers)
    assert replay.get_json()["run_id"] == first["run_id"]
    assert retry_webhooks(runtime.db, _later(25)).purged_keys == 1  # forgotten after
    fresh = client.post(f"/threads/{tid}/runs", json=other, headers=headers)
    assert fresh.status_code == 200 and fresh.get_json()["run_id"] != first["run_id"]


def test_a_webhook_url_is_checked_again_before_each_post(
    client: Any, runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepted at creation (private addresses allowed then), refused at the POST once they are
    not: the delivery fails at once with the reason, and nothing is sent."""
    monkeypatch.setenv("CALLBOARD_WEBHOOK_ALLOW_PRIVATE", "1")
    body = {"assistant_id": "noop", "webhook": "http://127.0.0.1:9/hook"}
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    run = client.post(f"/threads/{tid}/runs", json=body).get_json()
    assert client.post(f"/threads/{tid}/runs/{run['run_id']}/cancel").status_code == 202
    monkeypatch.setenv("CALLBOARD_WEBHOOK_ALLOW_PRIVATE", "0")
    report = retry_webhooks(runtime.db, _later(0.01))
    assert (report.deliveries.sent, report.deliveries.failed) == (1, 1)
    delivery = webhook_store.for_run(runtime.db, uuid.UUID(run["run_id"]))
    assert delivery["status"] == "failed" and "non-public" in delivery["last_error"]
    assert delivery["response_status"] is None  # no POST was made


def test_the_webhook_backoff_doubles_up_to_an_hour() -> None:
    policy = WebhookPolicy(retry_seconds=5)
    assert [policy.backoff(n) for n in (1, 2, 3, 10, 11, 30)] == [5, 10, 20, 2560, 3600, 3600]


def test_run_timeout_seconds_ends_a_run_as_timeout(settings: Any, ledger: Any) -> None:
    rt = make_runtime(dataclasses.replace(settings, run_timeout_seconds=0.5))
    runtime_module.install(rt)
    try:
        run = new_run(rt.db, input={"sleep": 30})
        execute_run(str(run["run_id"]), 1)
        row = run_store.get(rt.db, run["run_id"])
        assert row["status"] == "timeout"
        assert row["error"]["error"] == "TimeoutError" and "0.5 s" in row["error"]["message"]
    finally:
        runtime_module._current = None
        close_runtime(rt)
