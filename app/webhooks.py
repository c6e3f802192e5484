"""Sending webhooks: POST a run's final state to the URL it was created with.

The delivery is recorded in Postgres in the statement that ends the run (``app.store.webhooks``);
this module sends its attempts. The worker that ended the run tries at once
(``deliver_for_run``); the sweeper sends the attempts that are due (``deliver_due``): retries,
and the first attempt of runs ended elsewhere (cancelled before they started, given up by the
sweeper) or by a worker that died. An attempt is leased before it is sent, so two processes
never send the same attempt; a receiver can still see a delivery twice if a sender dies after
the POST and before recording it (at-least-once): the ``X-Callboard-Run-Id`` header lets it
deduplicate.

The request: ``POST <url>``, JSON body = the run as ``GET /threads/{thread_id}/runs/{run_id}``
returns it, with its final ``status``, plus (as the official server's webhook) ``values`` (the
thread's values when the run ended), ``error`` (null or ``{"error", "message"}``),
``run_started_at``, ``run_ended_at`` and ``webhook_sent_at`` (ISO 8601). Any 2xx answer is a
delivery (its body is never read); anything else (another status, a redirect, which is not
followed, a connection error, the attempt's deadline passed, a URL httpx cannot send) is
retried after 5 s, 10 s, 20 s, ... (doubling, at most an hour) until
``CALLBOARD_WEBHOOK_MAX_ATTEMPTS`` attempts were made, then the delivery is ``failed``. The URL
is checked again before each attempt (``app.webhook_target.check_webhook_url``), and the POST
connects to an address that check accepted, never resolving the name a second time (DNS
rebinding), with no proxy from the environment; a refused URL fails at once. A rolled-back run
is deleted as if it never ran: it sends no webhook.

One attempt lasts at most ``CALLBOARD_WEBHOOK_TIMEOUT_SECONDS`` in all (connecting, sending,
reading the status line and headers): a receiver that answers a byte at a time cannot hold a
sender. The worker sends its first attempt from a few threads of its own
(``deliver_in_background``), never from the thread of a run slot; the sweeper sends the due
attempts a few at a time (``deliver_due``).

Environment (read by the worker and the sweeper):
    CALLBOARD_WEBHOOK_MAX_ATTEMPTS    attempts before giving up (default 10)
    CALLBOARD_WEBHOOK_RETRY_SECONDS   first retry delay, doubled at each retry (default 5)
    CALLBOARD_WEBHOOK_TIMEOUT_SECONDS total deadline of one POST, in seconds (default 10)
    CALLBOARD_WEBHOOK_ALLOW_PRIVATE   1: allow loopback and private addresses (default 0)
"""

from __future__ import annotations

import datetime
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from app import serde, webhook_target
from app.api.common import dump_run, iso
from app.config import Settings
from app.errors import InvalidInput
from app.store import webhooks as webhook_store
from app.store.db import Database
from app.store.runs import row_from_json
from app.webhook_target import check_webhook_url

logger = logging.getLogger(__name__)

MAX_RETRY_SECONDS = 3600.0
USER_AGENT = "callboard-webhook/1"
# POSTs at once: per worker process (first attempts), per sweeper tick (due attempts)
SENDER_THREADS = 4
# first attempts a worker keeps waiting for a sender thread; beyond, they are left to the
# sweeper (their attempt is not leased yet, so it is due at once)
MAX_BACKLOG = 256


@dataclass(frozen=True)
class WebhookPolicy:
    """How webhooks are sent.

    Parameters:
        max_attempts: attempts before a delivery is given up (``failed``).
        retry_seconds: delay before the first retry, in seconds; doubled at each retry, capped at
            ``MAX_RETRY_SECONDS``.
        timeout_seconds: total deadline of one POST, in seconds.
        allow_private: POST to loopback and private addresses too (a test, a private network).
    """

    max_attempts: int = 10
    retry_seconds: float = 5.0
    timeout_seconds: float = 10.0
    allow_private: bool = False

    @property
    def lease_seconds(self) -> float:
        """How long an attempt is its sender's: well beyond one POST's timeouts."""
        return 4 * self.timeout_seconds + 30

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after ``attempts`` failed ones (1 → retry_seconds)."""
        return min(self.retry_seconds * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookPolicy:
        """The policy of ``settings``' ``webhook_*`` fields (``CALLBOARD_WEBHOOK_*``)."""
        return cls(
            max_attempts=settings.webhook_max_attempts,
            retry_seconds=settings.webhook_retry_seconds,
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_private=settings.webhook_allow_private,
        )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WebhookPolicy:
        """``from_settings(Settings.from_env(env))``: the ``CALLBOARD_WEBHOOK_*`` variables.

        Raises:
            ConfigurationError: a variable is not a valid value (the message names it).
        """
        return cls.from_settings(Settings.from_env(env))


def payload(delivery: dict, sent_at: datetime.datetime) -> dict:
    """The JSON body of a delivery (module docstring), from the run as it ended."""
    run = row_from_json(delivery["run"])
    return {
        **dump_run(run),
        "values": delivery["thread_values"],
        "error": run.get("error"),
        "run_started_at": iso(run.get("claimed_at")),
        "run_ended_at": iso(run.get("ended_at")),
        "webhook_sent_at": sent_at.isoformat(),
    }


def send(db: Database, delivery: dict, policy: WebhookPolicy) -> str:
    """Send the attempt leased in ``delivery`` and record its outcome.

    Returns ``"delivered"``, ``"retry"`` (due again later), ``"failed"`` (given up) or
    ``"lost"`` (the lease expired before the outcome was recorded; another sender has it).
    """
    run_id = str(delivery["run_id"])
    attempt = int(delivery["attempts"])
    status_code: int | None = None
    give_up = False
    try:
        target = check_webhook_url(delivery["url"], allow_private=policy.allow_private)
        body = payload(delivery, datetime.datetime.now(datetime.UTC))
        response = webhook_target.post(
            target,
            content=serde.dumps(body),
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Callboard-Run-Id": run_id,
                "X-Callboard-Delivery-Attempt": str(attempt),
            },
            timeout=policy.timeout_seconds,
        )
        status_code = response.status_code
        if response.is_success:
            if webhook_store.record_delivered(db, delivery, status_code):
                logger.info("run %r: webhook delivered (attempt %d)", run_id, attempt)
                return "delivered"
            return "lost"
        error = f"HTTP {status_code}"
    except InvalidInput as exc:
        error, give_up = f"URL refused: {exc}", True
    except httpx.TimeoutException:
        error = f"no answer within the deadline of {policy.timeout_seconds:g} s"
    except Exception as exc:  # noqa: BLE001 - whatever it is, it fails this attempt only
        error = f"{type(exc).__name__}: {exc}"
    row = webhook_store.record_failure(
        db,
        delivery,
        error=error,
        retry_in=policy.backoff(attempt),
        max_attempts=policy.max_attempts,
        give_up=give_up,
        response_status=status_code,
    )
    if row is None:
        return "lost"
    if row["status"] == "failed":
        logger.error("run %r: webhook given up after %d attempt(s): %s", run_id, attempt, error)
        return "failed"
    logger.warning(
        "run %r: webhook attempt %d failed (%s); retry in %.1f s",
        run_id,
        attempt,
        error,
        policy.backoff(attempt),
    )
    return "retry"


_senders = ThreadPoolExecutor(max_workers=SENDER_THREADS, thread_name_prefix="webhook")
_backlog = threading.BoundedSemaphore(MAX_BACKLOG)


def deliver_in_background(db: Database, run_id: uuid.UUID) -> bool:
    """``deliver_for_run`` on one of the process's webhook sender threads (the worker, after a
    run's end: a slow receiver holds no run slot). Returns False when ``MAX_BACKLOG`` attempts
    already wait for a sender: this one is left to the sweeper."""
    if not _backlog.acquire(blocking=False):
        logger.warning("run %r: webhook senders busy, left to the sweeper", str(run_id))
        return False

    def work() -> None:
        try:
            deliver_for_run(db, run_id)
        finally:
            _backlog.release()

    _senders.submit(work)
    return True


def deliver_for_run(
    db: Database, run_id: uuid.UUID, policy: WebhookPolicy | None = None
) -> str | None:
    """Send the due attempt of ``run_id``'s delivery now (the worker, right after the run's
    end). Returns ``send``'s outcome, or None when nothing was due. Never raises: a failure to
    reach Postgres is logged and left to the sweeper."""
    policy = policy or WebhookPolicy.from_env()
    try:
        delivery = webhook_store.lease_for_run(db, run_id, policy.lease_seconds)
        return None if delivery is None else send(db, delivery, policy)
    except Exception:  # noqa: BLE001 - the run is finished; the sweeper retries the webhook
        logger.exception(
            "run %r: webhook attempt failed to run; the sweeper will retry", str(run_id)
        )
        return None


@dataclass
class DeliveryReport:
    """What one pass over the due deliveries did (counts of attempts)."""

    sent: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def deliver_due(
    db: Database,
    now: datetime.datetime,
    policy: WebhookPolicy | None = None,
    *,
    limit: int = 100,
) -> DeliveryReport:
    """Send the attempts of up to ``limit`` deliveries due at ``now`` (an aware datetime)."""
    policy = policy or WebhookPolicy.from_env()
    report = DeliveryReport()
    due = webhook_store.lease_due(db, now, policy.lease_seconds, limit)
    if not due:
        return report

    def one(delivery: dict) -> str:
        try:
            return send(db, delivery, policy)
        except Exception:  # noqa: BLE001 - Postgres failed: the lease expires, it is due again
            logger.exception("run %r: webhook attempt not recorded", str(delivery["run_id"]))
            return "lost"

    with ThreadPoolExecutor(min(SENDER_THREADS, len(due)), "webhook-due") as pool:
        for outcome in pool.map(one, due):
            report.sent += 1
            report.delivered += outcome == "delivered"
            report.retrying += outcome == "retry"
            report.failed += outcome == "failed"
    return report
