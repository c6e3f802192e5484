"""``GET /metrics``: Prometheus' text format (prometheus-client), on every web process.

What is measured, and where it comes from:

- The official server's queue figures, under its names so that its dashboards work:
  ``lg_api_num_pending_runs``, ``lg_api_num_running_runs`` (Postgres, at scrape time);
  ``lg_api_workers_max``, ``lg_api_workers_active``, ``lg_api_workers_available`` (the sum of the
  live workers' ``N_JOBS_PER_WORKER``, of their executing attempts, and the difference: read from
  the workers' presence keys, ``workers.heartbeat``, at scrape time).
- ``callboard_run_duration_seconds`` and ``callboard_run_queue_wait_seconds``: histograms by
  ``graph_id`` and ``status``, recorded by the workers in Redis (``app.run_metrics``).
- ``callboard_http_request_duration_seconds``: by ``method``, ``route`` (the URL rule, e.g.
  ``/threads/<thread_id>/runs``) and ``status``; the time to the response's headers (a stream's
  lifetime is not in it).
- ``callboard_db_pool_connections``: this deployment's Postgres pools by ``pool`` and ``state``
  (``size``, ``available``, ``waiting`` requests), summed over live web processes.
- ``callboard_heartbeats_lapsed``: running runs claimed more than one heartbeat window ago whose
  heartbeat key is gone (what the sweeper will requeue).
- ``callboard_webhook_backlog`` and ``callboard_webhook_oldest_pending_seconds``.

Several gunicorn processes: prometheus-client's multiprocess mode. ``gunicorn.conf.py`` gives
``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory per gunicorn when unset) and removes a dead
process's files (``child_exit``); each process writes its HTTP and pool figures there and any
of them sums all at a scrape. The figures read from Postgres and Redis at scrape time are the
same whichever process answers. A store that cannot be read leaves its figures out of that
scrape (logged) rather than failing it.

Like ``/ok``, ``/metrics`` needs no authentication (the official server's meta routes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app import run_metrics
from app.logs import ACCESS_LOGGER
from app.notify import WORKER_KEY_PREFIX, heartbeat_key
from app.store import metrics as metric_store

logger = logging.getLogger(__name__)
access_logger = logging.getLogger(ACCESS_LOGGER)

HTTP_REQUESTS = Histogram(
    "callboard_http_request_duration_seconds",
    "Seconds from a request's arrival to its response's headers",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DB_POOL = Gauge(
    "callboard_db_pool_connections",
    "Postgres connection pools of the web processes: size, available, waiting requests",
    ["pool", "state"],
    multiprocess_mode="livesum",
)


class QueueCollector(Collector):
    """The figures read from Postgres and Redis at each scrape (see the module's docstring)."""

    def __init__(self, services: Any) -> None:
        self.svc = services

    def collect(self) -> Iterator[Any]:
        for part in (self._runs, self._workers, self._run_histograms, self._webhooks):
            try:
                yield from part()
            except Exception as exc:  # noqa: BLE001 - a store down: leave its figures out
                logger.warning("/metrics: %s left out: %s", part.__name__.strip("_"), exc)

    def _runs(self) -> Iterator[GaugeMetricFamily]:
        counts = metric_store.live_run_counts(self.svc.db)
        yield GaugeMetricFamily(
            "lg_api_num_pending_runs", "Runs waiting for a worker", value=counts["pending"]
        )
        yield GaugeMetricFamily(
            "lg_api_num_running_runs", "Runs executing", value=counts["running"]
        )
        window = self.svc.settings.heartbeat_seconds
        claims = [
            c for c in metric_store.running_claims(self.svc.db) if c["claimed_seconds_ago"] > window
        ]
        lapsed = 0
        if claims:
            pipe = self.svc.redis.pipeline(transaction=False)
            for c in claims:
                pipe.exists(heartbeat_key(c["run_id"], c["claim_token"]))
            lapsed = sum(1 for found in pipe.execute() if not found)
        yield GaugeMetricFamily(
            "callboard_heartbeats_lapsed",
            "Running runs whose heartbeat lapsed (the sweeper requeues them)",
            value=lapsed,
        )

    def _workers(self) -> Iterator[GaugeMetricFamily]:
        client = self.svc.redis
        keys = list(client.scan_iter(match=f"{WORKER_KEY_PREFIX}*", count=500))
        maximum = active = 0
        if keys:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(key, "n_jobs", "active")
            for n_jobs, running in pipe.execute():
                maximum += int(n_jobs or 0)
                active += int(running or 0)
        yield GaugeMetricFamily(
            "lg_api_workers_max", "Runs the live workers can execute at once", value=maximum
        )
        yield GaugeMetricFamily(
            "lg_api_workers_active", "Runs the live workers are executing", value=active
        )
        yield GaugeMetricFamily(
            "lg_api_workers_available",
            "Runs the live workers could start now",
            value=max(maximum - active, 0),
        )

    def _run_histograms(self) -> Iterator[Any]:
        yield from run_metrics.collect(self.svc.redis)

    def _webhooks(self) -> Iterator[GaugeMetricFamily]:
        backlog, oldest = metric_store.webhook_backlog(self.svc.db)
        yield GaugeMetricFamily(
            "callboard_webhook_backlog", "Webhook deliveries not yet made", value=backlog
        )
        yield GaugeMetricFamily(
            "callboard_webhook_oldest_pending_seconds",
            "Age of the oldest webhook delivery not yet made, seconds",
            value=oldest,
        )


class _ProcessCollector(Collector):
    """This process's own metrics (no multiprocess directory: one process, the tests)."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def render(services: Any) -> bytes:
    """The text exposition of every metric above."""
    registry = CollectorRegistry()
    if services.settings.prometheus_multiproc_dir:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCollector())
    registry.register(QueueCollector(services))
    return generate_latest(registry)


def init_app(app: Flask) -> None:
    """Add ``/metrics`` and the per-request hooks (HTTP histogram, pool gauges, access log)."""
    services = app.extensions["callboard"]
    access_log = services.settings.access_log

    def metrics() -> Response:
        return Response(render(services), mimetype=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])

    @app.before_request
    def _start_clock() -> None:
        g.callboard_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("callboard_started")
        if started is None:
            return response
        seconds = time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).observe(seconds)
        _update_pools(services)
        if access_log:
            access_logger.info(
                '%s "%s %s" %d %.3f s',
                request.remote_addr,
                request.method,
                request.full_path.rstrip("?"),
                response.status_code,
                seconds,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration": round(seconds, 6),
                },
            )
        return response


def _update_pools(services: Any) -> None:
    for name, pool in (("db", services.db.pool), ("checkpoint", services.checkpoint_pool)):
        stats = pool.get_stats()
        DB_POOL.labels(name, "size").set(stats.get("pool_size", 0))
        DB_POOL.labels(name, "available").set(stats.get("pool_available", 0))
        DB_POOL.labels(name, "waiting").set(stats.get("requests_waiting", 0))
