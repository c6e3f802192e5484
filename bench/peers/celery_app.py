"""The Celery 5 peer of ``bench/compare.py``: a no-op task, Redis broker and result backend.

Runs in the side venv ``bench/.venv-peers`` (``celery -A celery_app worker -P prefork -c 10``);
``CB_PEER_REDIS`` names the Redis DB the benchmark flushes.
"""

from __future__ import annotations

import os

from celery import Celery

REDIS = os.environ.get("CB_PEER_REDIS", "redis://127.0.0.1:6379/14")
app = Celery("cb_peer", broker=REDIS, backend=REDIS)
app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)


@app.task
def noop(payload: dict) -> dict:
    """Return ``payload`` (the Celery counterpart of ``examples/noop.py``)."""
    return payload
