"""The smallest run: returns its input. Used by the benchmark and the load tests."""

from __future__ import annotations

from typing import Any


def noop(input: dict[str, Any]) -> dict[str, Any]:
    """Return ``input`` unchanged."""
    return dict(input or {})
