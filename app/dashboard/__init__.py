"""``/dashboard``: the operator's page (placeholder until the views land)."""

from __future__ import annotations

from flask import Flask


def register_dashboard(app: Flask) -> None:
    """Register the dashboard's blueprint on ``app``."""
