"""Webhook receivers that misbehave (issue 11, item 2): one that tarpits (answers a byte at a
time, forever), one whose URL httpx cannot even parse. A delivery attempt has a total deadline,
never reads the response body, never holds a run slot, and any failure fails that attempt only.

The tarpit is a raw socket server on 127.0.0.1 (``CALLBOARD_WEBHOOK_ALLOW_PRIVATE=1``)."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from app import webhook_target
from app.store import webhooks as webhook_store
from app.webhooks import WebhookPolicy
from sweeper.webhooks import retry_webhooks
from tests.integration.run_helpers import sql
from tests.support import Tarpit, wait_for
from workers.actors.execute_run import execute_run

pytestmark = pytest.mark.timeout(180)

# what the tarpit sends before it dribbles: nothing of the headers' end, or whole headers
# announcing a body far longer than it will ever send
PREFIXES = {"headers": Tarpit.HEADERS, "body": Tarpit.BODY}


@pytest.fixture(params=sorted(PREFIXES))
def tarpit(request: pytest.FixtureRequest) -> Iterator[Tarpit]:
    pit = Tarpit(PREFIXES[request.param])
    yield pit
    pit.stop()


@pytest.fixture
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBOARD_WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("CALLBOARD_WEBHOOK_RETRY_SECONDS", "0")
    monkeypatch.setenv("CALLBOARD_WEBHOOK_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("CALLBOARD_WEBHOOK_TIMEOUT_SECONDS", "1")


def later(seconds: float = 1.0) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)


def _create(client: Any, url: str) -> str:
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    body = {"assistant_id": "ledger", "input": {}, "webhook": url}
    response = client.post(f"/threads/{tid}/runs", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["run_id"]


def test_a_tarpit_receiver_neither_holds_the_run_slot_nor_the_sender(
    client: Any, runtime: Any, allow_private: None, tarpit: Tarpit
) -> None:
    """The worker ends the run and returns to its queue without waiting for the POST; the POST
    gives up at its total deadline whether the tarpit dribbles the headers or the body (before
    the fix the actor thread posted with per-read timeouts only: it waited forever)."""
    run_id = _create(client, tarpit.url)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(execute_run, run_id, 1).result(timeout=30)  # no deadline: hangs forever
    row = sql(runtime.db, "SELECT status FROM runs WHERE run_id = %(r)s", {"r": run_id})
    assert row == [{"status": "success"}]

    def attempt_recorded() -> dict | None:
        delivery = webhook_store.for_run(runtime.db, uuid.UUID(run_id))
        return (
            delivery if delivery and delivery["attempts"] and not delivery["lease_token"] else None
        )

    delivery = wait_for(attempt_recorded, timeout=30, what="the worker's attempt recorded")
    assert tarpit.connections == 1
    if tarpit.prefix == PREFIXES["body"]:
        # the status line and headers came: a 200 is a delivery, the body is never read
        assert delivery["status"] == "delivered" and delivery["response_status"] == 200
    else:
        assert delivery["status"] == "pending" and "deadline" in delivery["last_error"]


@pytest.mark.parametrize("fault", ["control-character", "unexpected-error"])
def test_an_unsendable_delivery_fails_its_attempt_only(
    client: Any, runtime: Any, allow_private: None, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """A stored URL with a control character (``httpx.InvalidURL`` before the URL check refused
    them), or any unexpected error of the POST, fails that delivery's attempt; the other
    deliveries of the tick are sent and the purges run (before the fix the exception aborted the
    sweeper's webhook job on every tick)."""
    pit = Tarpit(PREFIXES["body"])
    try:
        run_ids = [_create(client, pit.url) for _ in range(2)]
        assert client.post("/runs/cancel", json={"status": "pending"}).status_code == 204
        bad_url = pit.url + ("\x01" if fault == "control-character" else "?boom")
        sql(
            runtime.db,
            "UPDATE webhook_deliveries SET url = %(u)s WHERE run_id = %(r)s RETURNING 1",
            {"u": bad_url, "r": run_ids[0]},
        )
        real_post = webhook_target.post

        def post(target: Any, **kwargs: Any) -> Any:
            if target.url.endswith("?boom"):
                raise RuntimeError("boom")
            return real_post(target, **kwargs)

        monkeypatch.setattr(webhook_target, "post", post)
        report = retry_webhooks(
            runtime.db, later(), WebhookPolicy(timeout_seconds=1, allow_private=True)
        )
    finally:
        pit.stop()
    assert (report.deliveries.sent, report.deliveries.delivered) == (2, 1)
    bad = webhook_store.for_run(runtime.db, uuid.UUID(run_ids[0]))
    good = webhook_store.for_run(runtime.db, uuid.UUID(run_ids[1]))
    assert bad["status"] != "delivered" and bad["attempts"] == 1
    expected = "URL refused" if fault == "control-character" else "RuntimeError: boom"
    assert expected in bad["last_error"]
    assert good["status"] == "delivered"
