"""``/dashboard``: the operator's page, server-rendered (Jinja templates, SVG charts drawn here,
no JavaScript and nothing fetched from elsewhere).

It shows what ``callboard status`` shows and more: runs by status with filters
(``?status=error&graph_id=ticker&limit=50``), running runs per worker with their heartbeat age,
queue depth, runs ended per minute and their latency (SVG), recent failures with their errors,
crons with their next fire time, and pending webhooks. ``?refresh=N`` reloads it every N seconds.

Access: it is an operator's page served by the API's own Flask app, so every request hook the
app has (auth, when configured) applies to it as to the API; ``CALLBOARD_DASHBOARD=0`` turns it
off (404).
"""

from __future__ import annotations

import datetime
from typing import Any

from flask import Blueprint, Flask, render_template, request

from app import operations
from app.dashboard.charts import latency_chart, throughput_chart
from app.errors import InvalidInput

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/dashboard/static")  # fmt: skip

CHART_MINUTES = 30
MAX_LIMIT = 500


def register_dashboard(app: Flask) -> None:
    """Register the dashboard on ``app`` unless ``settings.dashboard`` is off."""
    if app.extensions["callboard"].settings.dashboard:
        app.register_blueprint(bp)


def _filters() -> dict[str, Any]:
    """``status``, ``graph_id``, ``limit`` and ``refresh`` from the query string.

    Raises:
        InvalidInput: an unknown status, or a limit / refresh that is not a positive integer.
    """
    status = request.args.get("status") or None
    if status is not None and status not in operations.RUN_STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(operations.RUN_STATUSES)}, got {status!r}"
        )
    numbers = {}
    for name, default, maximum in (("limit", 50, MAX_LIMIT), ("refresh", 0, 3600)):
        raw = request.args.get(name) or str(default)
        if not raw.isdigit() or int(raw) > maximum:
            raise InvalidInput(f"{name} must be an integer from 0 to {maximum}, got {raw!r}")
        numbers[name] = int(raw)
    return {
        "status": status,
        "graph_id": request.args.get("graph_id") or None,
        "limit": max(numbers["limit"], 1),
        "refresh": numbers["refresh"],
    }


@bp.get("/dashboard")
def dashboard() -> Any:
    from app.api.common import services

    svc = services()
    filters = _filters()
    now = datetime.datetime.now(datetime.UTC)
    snap = operations.snapshot(
        svc.db,
        svc.redis,
        queue_name=svc.settings.queue_name,
        window=svc.settings.heartbeat_seconds,
        now=now,
    )
    series = operations.rates_by_minute(svc.db, now, CHART_MINUTES)
    return render_template(
        "dashboard.html",
        snap=snap,
        filters=filters,
        statuses=operations.RUN_STATUSES,
        graphs=svc.registry.ids,
        runs=operations.recent_runs(
            svc.db,
            status=filters["status"],
            graph_id=filters["graph_id"],
            limit=filters["limit"],
        ),
        failures=operations.recent_failures(svc.db),
        crons=operations.crons(svc.db, now),
        throughput=throughput_chart(series),
        latency=latency_chart(series),
        ended_last_minutes=sum(row["ended"] for row in series),
        chart_minutes=CHART_MINUTES,
        window=svc.settings.heartbeat_seconds,
        error_text=_error_text,
        ago=lambda when: _ago(now, when),
    )


def _error_text(error: Any) -> str:
    """A run's ``error`` (``{"error": type, "message": ...}``) as one line."""
    if isinstance(error, dict):
        kind, message = error.get("error"), error.get("message")
        return f"{kind}: {message}" if kind and message else str(message or kind or error)
    return "" if error is None else str(error)


def _ago(now: datetime.datetime, when: datetime.datetime | None) -> str:
    """``when`` relative to now: "12 s ago", "in 3 min"."""
    if when is None:
        return "—"
    seconds = (when - now).total_seconds()
    size = abs(seconds)
    text = (
        f"{size:.0f} s" if size < 120 else f"{size / 60:.0f} min" if size < 7200
        else f"{size / 3600:.0f} h"
    )  # fmt: skip
    return f"in {text}" if seconds > 0 else f"{text} ago"
