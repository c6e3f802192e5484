"""The sweeper's webhook job: send the webhook attempts that are due, forget old records.

``retry_webhooks(db, now)`` sends, through ``app.webhooks.deliver_due``, every delivery due
at ``now``: retries after a failed attempt, first attempts of runs that ended outside a worker
(cancelled before they started, given up by the sweeper), attempts whose sender died (its lease
expired). Each attempt is leased with one conditional UPDATE (``FOR UPDATE SKIP LOCKED``), so
several sweepers, and the workers, never send the same attempt twice.

It also purges what is kept for a limited time: deliveries that ended (delivered or failed)
more than ``DELIVERY_RETENTION`` ago, Idempotency-Keys older than ``IDEMPOTENCY_KEY_RETENTION``.
The job runs every ``interval_seconds`` (``SWEEP_INTERVAL_SECONDS``, or the first retry delay
``CALLBOARD_WEBHOOK_RETRY_SECONDS`` when shorter, so retries are not late by a whole sweep).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from app.store import run_creation
from app.store import webhooks as webhook_store
from app.store.db import Database
from app.webhooks import DeliveryReport, WebhookPolicy, deliver_due

logger = logging.getLogger(__name__)

DELIVERY_RETENTION = datetime.timedelta(days=7)
IDEMPOTENCY_KEY_RETENTION = datetime.timedelta(hours=24)
MIN_INTERVAL_SECONDS = 0.2


@dataclass
class WebhookSweep:
    """What one tick did: the attempts sent, and the records purged."""

    deliveries: DeliveryReport
    purged_deliveries: int = 0
    purged_keys: int = 0


def interval_seconds(sweep_interval: float, policy: WebhookPolicy) -> float:
    """The job's period in seconds (module docstring)."""
    return max(min(sweep_interval, policy.retry_seconds), MIN_INTERVAL_SECONDS)


def retry_webhooks(
    db: Database, now: datetime.datetime, policy: WebhookPolicy | None = None
) -> WebhookSweep:
    """Send the webhook attempts due at ``now`` (an aware datetime), then purge old records."""
    policy = policy or WebhookPolicy.from_env()
    report = WebhookSweep(deliver_due(db, now, policy))
    report.purged_deliveries = webhook_store.purge(db, now - DELIVERY_RETENTION)
    report.purged_keys = run_creation.purge_idempotency_keys(db, now - IDEMPOTENCY_KEY_RETENTION)
    if report.deliveries.sent or report.purged_deliveries or report.purged_keys:
        logger.info("webhooks: %s", report)
    return report
