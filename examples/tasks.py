"""Celery-style tasks (README, "Coming from Celery"): served by ``make up`` through the
``"tasks"`` key of ``examples/langgraph.json``; import this module (``tasks``, from
``examples/``) to call them with ``.delay()``."""

from __future__ import annotations

import callboard

app = callboard.Callboard()


@app.task
def add(x: float, y: float) -> float:
    """x + y"""
    return x + y


@app.task
def tsum(numbers: list[float]) -> float:
    """The sum of a list (a chord's callback)."""
    return sum(numbers)
