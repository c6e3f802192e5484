"""The capacity planner's arithmetic (``app.capacity``)."""

from __future__ import annotations

import pytest

from app.capacity import Costs, plan

COSTS = Costs(
    web_cpu_ms_per_write=7.0,
    web_cpu_ms_per_read=1.4,
    worker_cpu_ms_per_run=14.0,
    postgres_cpu_ms_per_write=6.0,
    postgres_cpu_ms_per_read=0.5,
    source="test",
)


def test_workers_follow_the_seeds_formula_when_jobs_bound():
    p = plan(500, 1.0, n_jobs=50, costs=COSTS)
    assert p.runs_at_once == 500
    assert p.workers_by_jobs == 10  # 500 runs/s × 1 s / 50 jobs
    assert p.workers_by_cpu == 10  # 500 × 14 ms = 7 cores at 70 %
    assert p.workers == 10 and p.available_jobs == 500


def test_a_workers_cpu_bounds_short_runs():
    p = plan(500, 0.01, n_jobs=10, costs=COSTS)
    assert p.workers_by_jobs == 1  # 5 runs at once
    assert p.workers == p.workers_by_cpu == 10


def test_web_postgres_and_connections_come_from_the_costs_and_pools():
    p = plan(100, 2.0, reads_per_s=1000, n_jobs=10, costs=COSTS)
    assert p.web == 3  # (100 × 7 + 1000 × 1.4) ms = 2.1 cores at 70 %
    assert p.postgres_cpu_cores == pytest.approx(1.1)
    assert p.workers == 20
    assert p.postgres_connections == 3 * 6 + 20 * (4 + 4) + (5 + 1)


def test_at_least_one_of_each_process():
    p = plan(0, 1.0, costs=COSTS)
    assert (p.web, p.workers) == (1, 1)


@pytest.mark.parametrize(
    "args", [(-1, 1.0, {}), (1, 0.0, {}), (1, 1.0, {"n_jobs": 0}), (1, 1.0, {"reads_per_s": -1})]
)
def test_nonsense_is_refused(args):
    writes, seconds, kwargs = args
    with pytest.raises(ValueError):
        plan(writes, seconds, costs=COSTS, **kwargs)
