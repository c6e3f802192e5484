"""Run duration and queue-wait histograms, recorded by the workers in Redis and read by
``/metrics`` on any web process (``app/metrics.py``).

Why Redis: a run ends in a worker process, and ``/metrics`` is served by gunicorn's web
processes; prometheus-client's multiprocess files only join the processes of one gunicorn.
Each worker adds its observations to one Redis hash with ``HINCRBY`` (atomic, so any number of
workers can record at once) and every scrape reads the whole hash (``HGETALL``), so all web
processes answer the same figures. Losing the hash (a Redis flush) resets the counters, which
Prometheus' ``rate()`` treats as a counter reset.

Key: ``callboard:metrics:runs`` (hash). Fields ``<kind>|<graph_id>|<status>|<bucket>`` (a count
of observations in that bucket, not cumulative), ``…|sum`` (sum in microseconds, an integer for
HINCRBY) and ``…|count``. ``kind`` is ``duration`` (the last attempt's claim to the run's end)
or ``queue_wait`` (the run's creation to its last claim; delayed runs include their delay).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator

import redis
from prometheus_client.core import HistogramMetricFamily

logger = logging.getLogger(__name__)

KEY = "callboard:metrics:runs"
# upper bounds of the buckets, seconds (Prometheus' "le"); +Inf is implied
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
KINDS = {
    "duration": (
        "callboard_run_duration_seconds",
        "Seconds from a run's last claim to its end, by graph and final status",
    ),
    "queue_wait": (
        "callboard_run_queue_wait_seconds",
        "Seconds from a run's creation to its last claim by a worker, by graph and final status",
    ),
}


def _bucket(seconds: float) -> str:
    for bound in BUCKETS:
        if seconds <= bound:
            return repr(float(bound))
    return "+Inf"


def record_run_end(client: redis.Redis, row: dict) -> None:
    """Record the run ``row`` (a ``runs`` row that just ended: ``graph_id``, ``status``,
    ``created_at``, ``claimed_at``, ``ended_at``). Best effort: a Redis error is logged, never
    raised (a metric must not fail a run)."""
    if row.get("claimed_at") is None or row.get("ended_at") is None:
        return
    values = {
        "duration": (row["ended_at"] - row["claimed_at"]).total_seconds(),
        "queue_wait": (row["claimed_at"] - row["created_at"]).total_seconds(),
    }
    try:
        pipe = client.pipeline(transaction=False)
        for kind, seconds in values.items():
            seconds = max(seconds, 0.0)
            prefix = f"{kind}|{row['graph_id']}|{row['status']}"
            pipe.hincrby(KEY, f"{prefix}|{_bucket(seconds)}", 1)
            pipe.hincrby(KEY, f"{prefix}|sum", round(seconds * 1_000_000))
            pipe.hincrby(KEY, f"{prefix}|count", 1)
        pipe.execute()
    except redis.RedisError as exc:
        logger.debug("run metrics not recorded: %s", exc)


def collect(client: redis.Redis) -> Iterator[HistogramMetricFamily]:
    """The two histograms (``KINDS``) from the Redis hash, labelled ``graph_id`` and ``status``.

    Raises:
        redis.RedisError: Redis cannot be read.
    """
    raw = client.hgetall(KEY)
    series: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for field, value in raw.items():
        field = field.decode() if isinstance(field, bytes) else field
        try:
            kind, rest = field.split("|", 1)
            graph_id, status, part = rest.rsplit("|", 2)
        except ValueError:
            continue
        series[(kind, graph_id, status)][part] = int(value)
    for kind, (name, doc) in KINDS.items():
        family = HistogramMetricFamily(name, doc, labels=["graph_id", "status"])
        for (k, graph_id, status), parts in sorted(series.items()):
            if k != kind:
                continue
            cumulative, buckets = 0, []
            for bound in [repr(float(b)) for b in BUCKETS] + ["+Inf"]:
                cumulative += parts.get(bound, 0)
                buckets.append((bound, cumulative))
            family.add_metric(
                [graph_id, status], buckets, sum_value=parts.get("sum", 0) / 1_000_000
            )
        yield family
