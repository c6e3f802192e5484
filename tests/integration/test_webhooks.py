"""Webhooks: a run created with ``webhook`` POSTs its final state to that URL once it ends.

A receiver thread on 127.0.0.1 plays the client's endpoint (``CALLBOARD_WEBHOOK_ALLOW_PRIVATE=1``
lets Callboard reach it) and can be told to fail its first requests. Checked here: the delivery is
recorded by the statement that ends the run, whoever ends it (worker, cancel before start,
sweeper giving up); the worker tries at once and the sweeper retries with backoff until a 2xx or
``CALLBOARD_WEBHOOK_MAX_ATTEMPTS``; a delivered webhook is never sent again, and two senders at
once never send the same attempt; the payload is the run as GET returns it plus its result; bad
URLs are refused at creation with a 422 and nothing written.
"""

from __future__ import annotations

import datetime
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import httpx
import psycopg
import pytest
from langgraph_sdk.schema import Run as SdkRun
from psycopg.rows import dict_row

from app import webhook_target
from app.store import runs as run_store
from app.store import webhooks as webhook_store
from app.store.db import Database
from app.webhook_target import check_webhook_url
from app.webhooks import WebhookPolicy
from sweeper.webhooks import retry_webhooks
from tests.sdk_clients import CLIENT_KINDS, open_client
from tests.support import Stack, wait_for
from workers.actors.execute_run import execute_run

pytestmark = pytest.mark.timeout(180)


@dataclass
class Hit:
    headers: dict[str, str]
    body: dict[str, Any]
    answered: int


@dataclass
class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records every POST and answers ``failures`` in order
    (HTTP statuses), then 200."""

    failures: list[int] = field(default_factory=list)
    delay: float = 0.0
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def delivered(self) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.answered == 200]

    def all(self) -> list[Hit]:
        with self.lock:
            return list(self.hits)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if state.delay:
                time.sleep(state.delay)  # a slow receiver (the test's subject, not a wait)
            with state.lock:
                status = state.failures.pop(0) if state.failures else 200
                state.hits.append(Hit(dict(self.headers), body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook?source=callboard"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process (the Flask app, the in-process worker and sweeper calls) may reach 127.0.0.1;
    retries are due at once, three attempts at most."""
    monkeypatch.setenv("CALLBOARD_WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("CALLBOARD_WEBHOOK_RETRY_SECONDS", "0")
    monkeypatch.setenv("CALLBOARD_WEBHOOK_MAX_ATTEMPTS", "3")


def later(seconds: float = 1.0) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)


def rows(database_url: str, query: str, params: dict | None = None) -> list[dict]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(query, params or {}).fetchall()  # type: ignore[arg-type]


def table_counts(database_url: str) -> dict[str, int]:
    counts = {}
    for table in ("runs", "threads", "webhook_deliveries", "run_idempotency_keys"):
        counts[table] = rows(database_url, f"SELECT count(*) AS n FROM {table}")[0]["n"]
    return counts


def wait_first_attempt(db: Database, run_id: str) -> dict:
    """Wait until the worker's first attempt (sent from a sender thread of its own, after the
    actor returned) is recorded; return the delivery."""

    def recorded() -> dict | None:
        delivery = webhook_store.for_run(db, uuid.UUID(run_id))
        return (
            delivery if delivery and delivery["attempts"] and not delivery["lease_token"] else None
        )

    return wait_for(recorded, timeout=30, what="the worker's webhook attempt recorded")


def assert_payload(payload: dict, run: dict, *, values: Any, error: Any = None) -> None:
    """The webhook body: the run as GET returns it, plus its result and times."""
    # every field GET answers, as it answers it (the field list is GET's, not the code's under
    # test), and the SDK's Run fields among them
    assert {k: payload.get(k) for k in run} == run
    assert set(SdkRun.__annotations__) - {"cancel_reason"} <= set(payload)
    assert payload["values"] == values
    assert payload["error"] == error
    ended = datetime.datetime.fromisoformat(payload["run_ended_at"])
    sent = datetime.datetime.fromisoformat(payload["webhook_sent_at"])
    assert ended.tzinfo is not None and sent.tzinfo is not None
    assert ended <= sent
    if payload["run_started_at"] is not None:
        assert datetime.datetime.fromisoformat(payload["run_started_at"]) <= ended


# --- real processes, through both SDK clients ----------------------------------------------


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_webhook_is_delivered_exactly_once_after_the_receiver_failed(
    stack: Stack, receiver: Receiver, database_url: str, kind: str
) -> None:
    stack.extra_env.update(
        CALLBOARD_WEBHOOK_ALLOW_PRIVATE="1", CALLBOARD_WEBHOOK_RETRY_SECONDS="0.3"
    )
    web = stack.web()
    stack.worker()
    stack.sweeper()
    receiver.failures = [500, 503]  # the worker's attempt and the sweeper's first retry fail
    with open_client(kind, web.url) as client:
        tid = client.threads.create()["thread_id"]
        run = client.runs.create(tid, "accumulate", input={"numbers": [1, 2]}, webhook=receiver.url)
        assert run["kwargs"]["webhook"] == receiver.url
        client.runs.join(tid, run["run_id"])
        wait_for(receiver.delivered, timeout=60, what="webhook delivered")
        final = client.runs.get(tid, run["run_id"])
        values = client.threads.get(tid)["values"]

    hits = receiver.all()
    assert [h.answered for h in hits] == [500, 503, 200]
    assert [h.headers["X-Callboard-Delivery-Attempt"] for h in hits] == ["1", "2", "3"]
    assert {h.headers["X-Callboard-Run-Id"] for h in hits} == {run["run_id"]}
    assert final["status"] == "success"
    assert_payload(hits[-1].body, final, values=values)
    assert values["total"] == 3
    delivery = rows(database_url, "SELECT * FROM webhook_deliveries")
    assert [(d["status"], d["attempts"], d["response_status"]) for d in delivery] == [
        ("delivered", 3, 200)
    ]
    # a delivered webhook is never due again, whatever the clock says
    db = Database(database_url, max_size=2)
    try:
        assert retry_webhooks(db, later(86_400)).deliveries.sent == 0
    finally:
        db.close()
    assert len(receiver.all()) == 3


# --- in-process worker and sweeper calls ---------------------------------------------------


def test_worker_tries_at_once_and_the_sweeper_retries_until_it_gives_up(
    client: Any, runtime: Any, receiver: Receiver, allow_private: None, database_url: str
) -> None:
    receiver.failures = [500, 500, 500, 500]
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    run = client.post(
        f"/threads/{tid}/runs",
        json={"assistant_id": "ledger", "input": {"echo": 1}, "webhook": receiver.url},
    ).get_json()
    execute_run(run["run_id"], 1)
    wait_first_attempt(runtime.db, run["run_id"])
    assert len(receiver.all()) == 1  # the worker's attempt, right after the end

    reports = [retry_webhooks(runtime.db, later()).deliveries for _ in range(3)]
    assert [(r.sent, r.retrying, r.failed) for r in reports] == [(1, 1, 0), (1, 0, 1), (0, 0, 0)]
    assert [h.answered for h in receiver.all()] == [500, 500, 500]
    delivery = webhook_store.for_run(runtime.db, uuid.UUID(run["run_id"]))
    assert delivery is not None
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == (
        "failed",
        3,
        "HTTP 500",
    )


def test_backoff_doubles_and_a_retry_is_not_sent_before_it_is_due(
    client: Any, runtime: Any, receiver: Receiver, allow_private: None, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CALLBOARD_WEBHOOK_RETRY_SECONDS", "30")
    receiver.failures = [500]
    run = client.post(
        "/runs", json={"assistant_id": "ledger", "input": {}, "webhook": receiver.url}
    ).get_json()
    execute_run(run["run_id"], 1)
    wait_first_attempt(runtime.db, run["run_id"])
    policy = WebhookPolicy.from_env()
    assert [policy.backoff(n) for n in (1, 2, 3)] == [30, 60, 120]
    assert retry_webhooks(runtime.db, later(5)).deliveries.sent == 0  # due in 30 s, not yet
    assert retry_webhooks(runtime.db, later(31)).deliveries.delivered == 1
    assert [h.answered for h in receiver.all()] == [500, 200]


def test_every_way_a_run_ends_records_its_webhook(
    client: Any, runtime: Any, receiver: Receiver, allow_private: None, database_url: str
) -> None:
    body = {"assistant_id": "ledger", "webhook": receiver.url}
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    # cancelled before it started: ended by the web process; the sweeper sends it
    cancelled = client.post(f"/threads/{tid}/runs", json={**body, "input": {}}).get_json()
    assert client.post(f"/threads/{tid}/runs/{cancelled['run_id']}/cancel").status_code == 202
    # given up by the sweeper (attempts exhausted while running)
    given_up = client.post(f"/threads/{tid}/runs", json={**body, "input": {}}).get_json()
    claim = run_store.claim(runtime.db, uuid.UUID(given_up["run_id"]), 1, "gone-worker")
    assert claim is not None
    moved = run_store.requeue(runtime.db, claim, reason="heartbeat lapsed", max_attempts=1)
    assert moved is not None and moved["status"] == "error"
    # a stateless run whose thread is deleted when it ends: its webhook still goes out
    stateless = client.post("/runs", json={**body, "input": {"echo": 5}}).get_json()
    execute_run(stateless["run_id"], 1)
    wait_first_attempt(runtime.db, stateless["run_id"])
    assert client.get(f"/threads/{stateless['thread_id']}").status_code == 404
    # rolled back before it started: deleted as if it never ran, no webhook
    rolled = client.post(f"/threads/{tid}/runs", json={**body, "input": {}}).get_json()
    url = f"/threads/{tid}/runs/{rolled['run_id']}/cancel?action=rollback"
    assert client.post(url).status_code == 202

    expected = {
        cancelled["run_id"]: client.get(f"/threads/{tid}/runs/{cancelled['run_id']}").get_json(),
        given_up["run_id"]: client.get(f"/threads/{tid}/runs/{given_up['run_id']}").get_json(),
    }
    assert retry_webhooks(runtime.db, later()).deliveries.delivered == 2
    got = {h.body["run_id"]: h.body for h in receiver.delivered()}
    assert set(got) == {cancelled["run_id"], given_up["run_id"], stateless["run_id"]}
    assert_payload(
        got[cancelled["run_id"]],
        expected[cancelled["run_id"]],
        values=None,
        error={"error": "UserInterrupt", "message": "cancelled before it started"},
    )
    assert got[given_up["run_id"]]["status"] == "error"
    assert got[given_up["run_id"]]["error"]["error"] == "MaxAttemptsExceeded"
    assert got[stateless["run_id"]]["status"] == "success"
    assert got[stateless["run_id"]]["values"] == {"ok": True, "echo": 5}
    assert got[stateless["run_id"]]["kwargs"]["temporary"] is True
    assert webhook_store.for_run(runtime.db, uuid.UUID(rolled["run_id"])) is None
    assert len(receiver.all()) == 3


def test_two_senders_at_once_never_send_the_same_attempt(
    client: Any, runtime: Any, receiver: Receiver, allow_private: None, database_url: str
) -> None:
    receiver.delay = 0.02
    run_ids = []
    for _ in range(24):
        tid = client.post("/threads", json={}).get_json()["thread_id"]
        body = {"assistant_id": "ledger", "input": {}, "webhook": receiver.url}
        run_ids.append(client.post(f"/threads/{tid}/runs", json=body).get_json()["run_id"])
    resp = client.post("/runs/cancel", json={"status": "pending"})
    assert resp.status_code == 204  # 24 runs ended at once: 24 deliveries due

    dbs = [Database(database_url, max_size=2) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            sent = list(pool.map(lambda db: retry_webhooks(db, later()).deliveries.sent, dbs))
    finally:
        for db in dbs:
            db.close()
    assert sum(sent) == 24
    assert sorted(h.body["run_id"] for h in receiver.all()) == sorted(run_ids)
    statuses = rows(database_url, "SELECT status, attempts FROM webhook_deliveries")
    assert {(r["status"], r["attempts"]) for r in statuses} == {("delivered", 1)}


# --- bad input -------------------------------------------------------------------------------

BAD_URLS = [
    pytest.param("ftp://example.com/hook", "http or https", id="scheme"),
    pytest.param("/threads", "http or https", id="relative"),
    pytest.param("http://", "no host", id="no-host"),
    pytest.param("http://127.0.0.1:8000/hook", "non-public", id="loopback"),
    pytest.param("http://localhost/hook", "non-public", id="localhost"),
    pytest.param("http://[::1]/hook", "non-public", id="loopback-v6"),
    pytest.param("http://10.1.2.3/hook", "non-public", id="private"),
    pytest.param("http://192.168.0.1/hook", "non-public", id="private-192"),
    pytest.param("http://169.254.169.254/latest/meta-data", "non-public", id="link-local"),
    pytest.param("http://[::ffff:10.0.0.1]/hook", "non-public", id="mapped-private"),
    pytest.param("http://0.0.0.0/hook", "non-public", id="unspecified"),
    pytest.param("http://93.184.215.14:99999/hook", "not a valid URL", id="port"),
    pytest.param("http://no-such-host.invalid/hook", "cannot resolve", id="unresolvable"),
    pytest.param("http://93.184.215.14/" + "a" * 4100, "longer than", id="too-long"),
]


@pytest.mark.parametrize(("url", "why"), BAD_URLS)
def test_bad_webhook_url_is_a_422_and_writes_nothing(
    client: Any, database_url: str, monkeypatch: Any, url: str, why: str
) -> None:
    monkeypatch.delenv("CALLBOARD_WEBHOOK_ALLOW_PRIVATE", raising=False)
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    before = table_counts(database_url)
    for path in (f"/threads/{tid}/runs", "/runs", "/runs/wait", f"/threads/{tid}/runs/stream"):
        resp = client.post(path, json={"assistant_id": "ledger", "input": {}, "webhook": url})
        assert resp.status_code == 422, (path, resp.get_data(as_text=True))
        detail = resp.get_json()["detail"]
        assert "webhook" in detail and why in detail
    resp = client.post(
        "/runs/batch", json=[{"assistant_id": "ledger"}, {"assistant_id": "ledger", "webhook": url}]
    )
    assert resp.status_code == 422 and why in resp.get_json()["detail"]
    assert table_counts(database_url) == before


@pytest.mark.parametrize("value", [123, True, ["http://93.184.215.14/"], {"url": "x"}])
def test_webhook_of_the_wrong_type_is_a_422(client: Any, database_url: str, value: Any) -> None:
    before = table_counts(database_url)
    resp = client.post("/runs", json={"assistant_id": "ledger", "webhook": value})
    assert resp.status_code == 422
    assert "webhook" in resp.get_json()["detail"]
    assert table_counts(database_url) == before


def test_private_addresses_are_allowed_when_configured(
    client: Any, monkeypatch: Any, receiver: Receiver
) -> None:
    monkeypatch.setenv("CALLBOARD_WEBHOOK_ALLOW_PRIVATE", "1")
    resp = client.post("/runs", json={"assistant_id": "ledger", "webhook": receiver.url})
    assert resp.status_code == 200
    assert resp.get_json()["kwargs"]["webhook"] == receiver.url
    # a public address is accepted without it
    monkeypatch.delenv("CALLBOARD_WEBHOOK_ALLOW_PRIVATE")
    public = "https://93.184.215.14/hook"
    resp = client.post("/runs", json={"assistant_id": "ledger", "webhook": public})
    assert resp.status_code == 200 and resp.get_json()["kwargs"]["webhook"] == public


# --- the POST goes where the check looked ------------------------------------------------------


@pytest.fixture
def rebinding_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``rebind.test`` answers 127.0.0.1 the first time it is resolved and 127.0.0.2 (where
    nothing listens) afterwards: a DNS-rebinding name. Returns the list of its lookups."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_the_post_connects_to_the_address_that_was_checked(
    receiver: Receiver, rebinding_dns: list[str]
) -> None:
    url = receiver.url.replace("127.0.0.1", "rebind.test")
    target = check_webhook_url(url, allow_private=True)
    assert target.addresses == ("127.0.0.1",)
    response = webhook_target.post(
        target, content=b'{"ok": true}', headers={"Content-Type": "application/json"}, timeout=5
    )
    assert response.status_code == 200
    assert [hit.body for hit in receiver.all()] == [{"ok": True}]
    assert receiver.all()[0].headers["Host"].startswith("rebind.test:")
    assert rebinding_dns == ["rebind.test"]  # resolved once: by the check


def test_a_name_checked_public_is_never_connected_to_its_private_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check sees a public address; a second lookup would answer 127.0.0.1. The connection
    is attempted to the public address only (recorded here and refused, so nothing leaves)."""
    answers = iter(["93.184.215.14"])

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    connected: list[str] = []

    def connect_tcp(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        connected.append(host)
        raise httpcore.ConnectError("test: no connection leaves this machine")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)
    target = check_webhook_url("http://rebind.test/hook", allow_private=False)
    with pytest.raises(httpx.ConnectError):
        webhook_target.post(target, content=b"{}", headers={}, timeout=5)
    assert connected == ["93.184.215.14"]


def test_no_proxy_is_taken_from_the_environment(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/")  # the discard port: nothing answers
    target = check_webhook_url(receiver.url, allow_private=True)
    response = webhook_target.post(target, content=b"{}", headers={}, timeout=5)
    assert response.status_code == 200 and len(receiver.all()) == 1
