"""How ``callboard`` prints things (rich tables); the commands are in ``app.cli``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from app import capacity
from app.operations import Snapshot
from app.run_tail import RunEvent

DEFAULT_MAX = capacity.DEFAULT_MAX_CONNECTIONS


def _age(seconds: float | None) -> str:
    return "[red]none[/]" if seconds is None else f"{seconds:.1f} s"


def print_status(console: Console, snap: Snapshot) -> None:
    """The figures of ``callboard status``."""
    summary = Table(title=f"Callboard at {snap.now:%Y-%m-%d %H:%M:%S} UTC", show_header=False)
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_row("queue depth (messages waiting in Redis)", str(snap.queue_depth))
    for status, count in snap.runs_by_status.items():
        summary.add_row(f"runs {status}", str(count))
    lapsed = len(snap.lapsed)
    summary.add_row("lapsed runs (heartbeat gone)", f"[red]{lapsed}[/]" if lapsed else "0")
    summary.add_row("due crons", str(snap.due_crons))
    summary.add_row("webhook backlog (pending deliveries)", str(snap.webhook_backlog))
    console.print(summary)

    workers = Table(title="Running runs per worker")
    for column in ("worker", "run_id", "graph", "attempt", "claimed", "heartbeat age"):
        workers.add_column(column)
    for worker_id, running in snap.running_by_worker().items():
        for run in running:
            claimed = (snap.now - run.claimed_at).total_seconds()
            workers.add_row(
                worker_id,
                str(run.run_id),
                run.graph_id,
                str(run.attempt),
                f"{claimed:.1f} s ago",
                _age(run.heartbeat_age) + (" [red]lapsed[/]" if run.lapsed else ""),
            )
    if snap.running:
        console.print(workers)
    else:
        console.print("no running runs")


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    """``callboard status --json``: the same figures as JSON."""
    return {
        "now": snap.now.isoformat(),
        "queue_depth": snap.queue_depth,
        "runs_by_status": snap.runs_by_status,
        "running_by_worker": {
            worker: [
                {
                    "run_id": str(run.run_id),
                    "graph_id": run.graph_id,
                    "attempt": run.attempt,
                    "claimed_at": run.claimed_at.isoformat(),
                    "heartbeat_age_seconds": run.heartbeat_age,
                    "lapsed": run.lapsed,
                }
                for run in running
            ]
            for worker, running in snap.running_by_worker().items()
        },
        "lapsed_runs": [str(run.run_id) for run in snap.lapsed],
        "due_crons": snap.due_crons,
        "webhook_backlog": snap.webhook_backlog,
    }


def print_event(console: Console, event: RunEvent) -> None:
    """One line per event of ``callboard runs tail``: id, stream mode, compact JSON."""
    data = json.dumps(event.data, separators=(",", ":"), default=str)
    console.print(f"[dim]{event.id}[/] [bold cyan]{event.event}[/] ", end="")
    console.out(data, highlight=False)


def print_plans(
    console: Console,
    plans: Sequence[capacity.Plan],
    seed: Sequence[capacity.SeedProfile] | None = None,
) -> None:
    """The sizing table, laid out as the seed's (one column per load profile); with ``seed``,
    the seed's own figures are printed under each of ours."""
    table = Table(title="Callboard sizing (reads / writes per second)")
    table.add_column("")
    for p in plans:
        table.add_column(f"{p.reads_per_s:g} / {p.writes_per_s:g}", justify="right")

    def row(label: str, ours: Sequence[str], theirs: Sequence[str] | None = None) -> None:
        table.add_row(label, *ours)
        if seed and theirs is not None:
            table.add_row("  [dim]seed[/]", *(f"[dim]{t}[/]" for t in theirs))

    row("Writes/s (runs created)", [f"{p.writes_per_s:g}" for p in plans])
    row("Reads/s", [f"{p.reads_per_s:g}" for p in plans])
    row("Run seconds (average)", [f"{p.run_seconds:g}" for p in plans])
    row("Runs executing at once", [f"{p.runs_at_once:g}" for p in plans])
    row(
        "API servers (web, 1 CPU)",
        [str(p.web) for p in plans],
        [str(s.api_servers) for s in seed or ()],
    )
    row(
        "Queue workers (1 CPU)",
        [str(p.workers) for p in plans],
        [str(s.queue_workers) for s in seed or ()],
    )
    row("  by jobs (seed's formula)", [str(p.workers_by_jobs) for p in plans])
    row("  by worker CPU", [str(p.workers_by_cpu) for p in plans])
    row(
        "N_JOBS_PER_WORKER",
        [str(p.n_jobs) for p in plans],
        [str(s.n_jobs) for s in seed or ()],
    )
    row("Available jobs", [str(p.available_jobs) for p in plans])
    row(
        "Postgres CPU (cores)",
        [f"{p.postgres_cpu_cores:.2f}" for p in plans],
        [s.postgres for s in seed or ()],
    )
    row(
        "Postgres connections (max)",
        [
            str(p.postgres_connections)
            + (" [red]> 100[/]" if p.postgres_connections > DEFAULT_MAX else "")
            for p in plans
        ],
    )
    console.print(table)
    costs = capacity.MEASURED
    console.print(
        f"workers = max(throughput × run seconds / N_JOBS_PER_WORKER (the seed's formula), "
        f"throughput × {costs.worker_cpu_ms_per_run} ms worker CPU per run / "
        f"{capacity.CPU_TARGET:.0%} of a CPU); web = (writes × {costs.web_cpu_ms_per_write} ms + "
        f"reads × {costs.web_cpu_ms_per_read} ms) / {capacity.CPU_TARGET:.0%} of a CPU; Postgres "
        f"CPU = writes × {costs.postgres_cpu_ms_per_write} ms + reads × "
        f"{costs.postgres_cpu_ms_per_read} ms; connections: web "
        f"{capacity.WEB_DB_POOL_MAX + capacity.WEB_CHECKPOINT_POOL_MAX}, worker "
        f"{capacity.worker_pool_max(0)}, sweeper "
        f"{capacity.SWEEPER_DB_POOL_MAX + capacity.SWEEPER_LISTENER_CONNECTIONS} (over 100: raise "
        "max_connections or put PgBouncer in front).",
        highlight=False,
    )
    console.print(f"[dim]measured: {costs.source}[/]", highlight=False)
