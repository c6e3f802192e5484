"""Capacity planning (``callboard plan``): the seed's formulas plus Callboard's own measured costs.

The seed (``seeds/configure-agent-server-for-scale.md``, "Support a number of jobs equal to
expected throughput")::

    available_jobs = workers × N_JOBS_PER_WORKER
    throughput_per_second = available_jobs / average_run_execution_time_seconds
    workers = throughput_per_second × average_run_execution_time_seconds / N_JOBS_PER_WORKER

Callboard adds what the seed leaves to its own benchmarks: a worker process also has a CPU
bound (one GIL; the claim, the graph and the finish cost ``worker_cpu_ms_per_run``), web
processes come from the CPU each write (run creation) and read costs, Postgres's CPU from what
each costs in its backends, and Postgres connections from the pools each process opens (their
sum must stay under the server's ``max_connections``, 100 by default: DESIGN.md, "Connection
budget"). Every measured constant is in ``MEASURED``, with its source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Pool sizes (maximum connections) of each process: the single place they are set. Each
# statement holds a connection for milliseconds, so a few serve many threads; sized so that the
# Procfile's 2 web processes + 4 workers + the sweeper stay within 50 connections
# (``connection_budget``; README, "Connection budget").
WEB_DB_POOL_MAX = 6  # app/services.py: the API's, its read-side checkpointer's and store's pool
WEB_CHECKPOINT_POOL_MAX = 0  # (shares WEB_DB_POOL_MAX)
WEB_POOL_TIMEOUT_SECONDS = 2.0  # a web thread waits this long for a connection, then 503
WORKER_DB_POOL_MAX = 4  # workers/__main__.py: claims, finishes, lease checks, webhooks
WORKER_CHECKPOINT_POOL_MAX = 4  # store/checkpoints.py: LangGraph's saver and store (graph runs)
# sweeper/__main__.py: its jobs share one pool; one connection more than the jobs that can wait on
# the runs table (sweep, ttl, results, canvas), so that those held up cannot starve the crons job
SWEEPER_DB_POOL_MAX = 5
SWEEPER_LISTENER_CONNECTIONS = 1  # sweeper/enqueued.py: LISTEN on a connection of its own
DEFAULT_MAX_CONNECTIONS = 100  # PostgreSQL's default max_connections

# A process planned to be busy at most this share of one CPU (headroom for bursts, GC, deploys)
CPU_TARGET = 0.7


def worker_pool_max(n_jobs: int) -> int:
    """Postgres connections of one worker process at most: its store pool and its
    checkpointer's pool (workers/__main__.py, workers/executor.py), whatever ``n_jobs``: a run
    holds a connection only while one of its statements runs."""
    del n_jobs  # the pools do not grow with the slots
    return WORKER_DB_POOL_MAX + WORKER_CHECKPOINT_POOL_MAX


def connection_budget(web_processes: int, workers: int, sweepers: int = 1) -> int:
    """Postgres connections of a deployment at most::

        web_processes x WEB_DB_POOL_MAX + workers x (WORKER_DB_POOL_MAX
        + WORKER_CHECKPOINT_POOL_MAX) + sweepers x (SWEEPER_DB_POOL_MAX
        + SWEEPER_LISTENER_CONNECTIONS)

    (2 web + 4 workers + 1 sweeper: 2 x 6 + 4 x 8 + 6 = 50)."""
    return (
        web_processes * (WEB_DB_POOL_MAX + WEB_CHECKPOINT_POOL_MAX)
        + workers * worker_pool_max(0)
        + sweepers * (SWEEPER_DB_POOL_MAX + SWEEPER_LISTENER_CONNECTIONS)
    )


@dataclass(frozen=True)
class Costs:
    """Measured CPU per request, milliseconds of one core."""

    web_cpu_ms_per_write: float  # web: one run created over HTTP
    web_cpu_ms_per_read: float  # web: one GET of a run or a thread
    worker_cpu_ms_per_run: float  # worker: claim, execute (a no-op graph), finish, heartbeat
    postgres_cpu_ms_per_write: float  # Postgres backends: a run's whole life
    postgres_cpu_ms_per_read: float  # Postgres backends: one GET
    source: str


MEASURED = Costs(
    web_cpu_ms_per_write=2.73,
    web_cpu_ms_per_read=1.32,
    worker_cpu_ms_per_run=4.20,
    postgres_cpu_ms_per_write=2.89,
    postgres_cpu_ms_per_read=0.26,
    source=(
        "bench/e2e.py --runs 1000 --reads 3000 --probe 0 --skip-baseline (2026-12-04, main at "
        "39b3e19, plain functions on the direct path; this machine: 2 cores shared with other "
        "jobs, PostgreSQL 15, synchronous commit on): 1 web process (gunicorn gthread 32), "
        "1 worker (N_JOBS_PER_WORKER=10), the noop graph on pre-created threads; reads = GET "
        "run / GET thread alternately. CPU per request from /proc of each process and of the "
        "bench database's Postgres backends. An earlier run before the direct path: worker "
        "10.98 ms, Postgres 5.76 ms per run"
    ),
)


@dataclass(frozen=True)
class Plan:
    """What one load profile needs. Rates per second, run time in seconds."""

    writes_per_s: float
    reads_per_s: float
    run_seconds: float
    n_jobs: int
    runs_at_once: float  # writes × run seconds (Little's law)
    workers_by_jobs: int  # the seed's formula
    workers_by_cpu: int  # Callboard's worker CPU per run
    workers: int
    web: int
    postgres_cpu_cores: float
    postgres_connections: int

    @property
    def available_jobs(self) -> int:
        return self.workers * self.n_jobs


def plan(
    writes_per_s: float,
    run_seconds: float,
    *,
    reads_per_s: float = 0.0,
    n_jobs: int = 10,
    costs: Costs = MEASURED,
    sweepers: int = 1,
) -> Plan:
    """Size a deployment for ``writes_per_s`` runs created per second lasting ``run_seconds``
    each on average, and ``reads_per_s`` reads per second.

    Raises:
        ValueError: a negative rate, a run time <= 0 or ``n_jobs`` < 1.
    """
    if writes_per_s < 0 or reads_per_s < 0 or run_seconds <= 0 or n_jobs < 1:
        raise ValueError("rates must be >= 0, run seconds > 0 and n_jobs >= 1")
    runs_at_once = writes_per_s * run_seconds
    by_jobs = _ceil(runs_at_once / n_jobs)
    by_cpu = _ceil(writes_per_s * costs.worker_cpu_ms_per_run / 1000 / CPU_TARGET)
    workers = max(1, by_jobs, by_cpu)
    web_cpu = (
        writes_per_s * costs.web_cpu_ms_per_write + reads_per_s * costs.web_cpu_ms_per_read
    ) / 1000
    web = max(1, _ceil(web_cpu / CPU_TARGET))
    pg_cpu = (
        writes_per_s * costs.postgres_cpu_ms_per_write
        + reads_per_s * costs.postgres_cpu_ms_per_read
    ) / 1000
    connections = (
        web * (WEB_DB_POOL_MAX + WEB_CHECKPOINT_POOL_MAX)
        + workers * worker_pool_max(n_jobs)
        + sweepers * (SWEEPER_DB_POOL_MAX + SWEEPER_LISTENER_CONNECTIONS)
    )
    return Plan(
        writes_per_s=writes_per_s,
        reads_per_s=reads_per_s,
        run_seconds=run_seconds,
        n_jobs=n_jobs,
        runs_at_once=runs_at_once,
        workers_by_jobs=by_jobs,
        workers_by_cpu=by_cpu,
        workers=workers,
        web=web,
        postgres_cpu_cores=pg_cpu,
        postgres_connections=connections,
    )


def _ceil(value: float) -> int:
    """Round up, ignoring float noise (3.0000000000000004 processes is 3)."""
    return math.ceil(round(value, 9))


@dataclass(frozen=True)
class SeedProfile:
    """A column of the seed's table "Example self-hosted Agent Server configurations" (1-s runs),
    named reads / writes as the seed's header does. The seed's first two rows (write, read
    requests per second) are swapped in its table: only this reading fits its own workers
    (10 workers × 50 jobs for 500 runs/s of 1 s; 1 worker × 10 jobs for 5 runs/s)."""

    name: str
    reads_per_s: float
    writes_per_s: float
    api_servers: int
    queue_workers: int
    n_jobs: int
    postgres: str


SEED_PROFILES = (
    SeedProfile("5 / 5", 5, 5, 1, 1, 10, "2 CPU, 8 Gi"),
    SeedProfile("5 / 500", 5, 500, 6, 10, 50, "4 CPU, 16 Gi"),
    SeedProfile("500 / 5", 500, 5, 10, 1, 10, "4 CPU, 16 Gi"),
    SeedProfile("500 / 500", 500, 500, 15, 10, 50, "8 CPU, 32 Gi"),
)
