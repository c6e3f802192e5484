"""The bench's Celery-style task (``bench/compare.py``, section ``tasks``): the counterpart of
``celery_app.noop``, loaded by the server through the ``"tasks"`` key of ``callboard.json`` and
called by the bench through the ``callboard`` client (``app.url`` set to the bench's web)."""

from __future__ import annotations

from typing import Any

import callboard

app = callboard.Callboard()


@app.task(name="cb_noop")
def cb_noop(payload: Any) -> Any:
    """A no-op task: returns its argument."""
    return payload
