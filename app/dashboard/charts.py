"""Server-side SVG charts of the dashboard: no JavaScript, no external asset.

Each function takes the per-minute series of ``app.operations.rates_by_minute`` and returns an
``<svg>`` element as ``Markup`` (every text in it is escaped).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 580, 160
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 22  # margins, px


def _frame(chart_id: str, title: str, y_max: float, unit: str, series: Sequence[dict]) -> str:
    """The axes, the y scale (0 and ``y_max``) and the first/last minute labels."""
    first = series[0]["minute"] if series else None
    last = series[-1]["minute"] if series else None
    x_labels = ""
    if isinstance(first, datetime.datetime) and isinstance(last, datetime.datetime):
        x_labels = (
            f'<text x="{LEFT}" y="{HEIGHT - 6}" class="axis">{first:%H:%M}</text>'
            f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" class="axis" text-anchor="end">'
            f"{last:%H:%M} UTC</text>"
        )
    bottom = HEIGHT - BOTTOM
    return (
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" class="axis-line"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" class="axis-line"/>'
        f'<text x="{LEFT - 4}" y="{TOP + 8}" class="axis" text-anchor="end">'
        f"{escape(_number(y_max))}{escape(unit)}</text>"
        f'<text x="{LEFT - 4}" y="{bottom}" class="axis" text-anchor="end">0</text>'
        f"{x_labels}"
    )


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".rstrip("0").rstrip(".")


def _nice_max(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is >= ``value`` (1 for an empty chart)."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 < value:
        scale *= 10
    while scale > value:
        scale /= 10
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def _x(i: int, n: int) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * (i + 0.5) / max(n, 1)


def _y(value: float, y_max: float) -> float:
    return TOP + (HEIGHT - BOTTOM - TOP) * (1 - value / y_max)


def throughput_chart(series: Sequence[dict[str, Any]]) -> Markup:
    """Bars: runs ended per minute."""
    y_max = _nice_max(max((row["ended"] for row in series), default=0))
    bar = (WIDTH - LEFT - RIGHT) / max(len(series), 1) * 0.8
    parts = [_frame("throughput-chart", "Runs ended per minute", y_max, "/min", series)]
    for i, row in enumerate(series):
        if not row["ended"]:
            continue
        top = _y(row["ended"], y_max)
        parts.append(
            f'<rect class="bar" x="{_x(i, len(series)) - bar / 2:.1f}" y="{top:.1f}" '
            f'width="{bar:.1f}" height="{HEIGHT - BOTTOM - top:.1f}" data-ended="{row["ended"]}">'
            f"<title>{row['minute']:%H:%M}: {row['ended']} runs</title></rect>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


LATENCY_LINES = (
    ("duration_p50_ms", "run p50", "line-p50"),
    ("duration_p95_ms", "run p95", "line-p95"),
    ("queue_wait_p50_ms", "queue wait p50", "line-wait"),
)


def latency_chart(series: Sequence[dict[str, Any]]) -> Markup:
    """Lines: p50 and p95 run duration (claim to end) and p50 queue wait, ms, per minute; a
    minute without ended runs leaves a gap."""
    values = [row[key] for row in series for key, _, _ in LATENCY_LINES if row[key] is not None]
    y_max = _nice_max(max(values, default=0))
    parts = [_frame("latency-chart", "Run latency per minute", y_max, " ms", series)]
    for key, label, css in LATENCY_LINES:
        points = [
            (_x(i, len(series)), _y(row[key], y_max))
            for i, row in enumerate(series)
            if row[key] is not None
        ]
        if not points:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline class="{css}" points="{path}"><title>{label}</title></polyline>')
        parts.extend(f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="2"/>' for x, y in points)
    legend_x = LEFT + 8
    for key, label, css in LATENCY_LINES:
        parts.append(f'<text x="{legend_x}" y="{TOP + 10}" class="legend {css}">{label}</text>')
        legend_x += 110
        del key
    parts.append("</svg>")
    return Markup("".join(parts))
