"""``callboard``: the operator's command line (click + rich).

    callboard dev [--port 8000] [--no-reload]   web + worker + sweeper, restarted on code changes
    callboard migrate                           bring DATABASE_URL's schema up to date
    callboard status [--json]                   queue, running runs per worker, lapsed runs, crons,
                                                webhooks
    callboard runs tail RUN_ID                  a run's events as they come (its Redis Stream)
    callboard plan --throughput R --run-seconds S [--reads R] [--n-jobs N] [--seed-profiles]

Settings come from the environment as for every process (``app.config.Settings``: DATABASE_URL,
REDIS_URL, CALLBOARD_CONFIG, HEARTBEAT_SECONDS, ...). The rendering is in ``app.cli_render``.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import uuid
from pathlib import Path

import click
from rich.console import Console

from app import capacity, cli_render
from app.config import Settings
from app.errors import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent


def _console() -> Console:
    """A console made per command, so that ``COLUMNS`` (and a test's environment) applies."""
    return Console()


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Callboard: run graphs and plain functions on workers, over the LangGraph Server API."""


@main.command()
@click.option("--port", default=8000, show_default=True, envvar="PORT", help="web port")
@click.option("--reload/--no-reload", default=True, show_default=True, help="restart on changes")
@click.option("--migrate/--no-migrate", default=True, show_default=True, help="migrate first")
def dev(port: int, reload: bool, migrate: bool) -> None:
    """Run the whole stack in the foreground: web (gunicorn), worker and sweeper, as the
    Procfile does, with their output interleaved (honcho). With ``--reload``, gunicorn reloads
    web on code changes and watchfiles restarts worker and sweeper on changes to .py files of
    the project and of the graphs' directory. Ctrl-C stops all three."""
    from honcho.manager import Manager

    settings = _settings()
    if migrate:
        _migrate(settings)
    python = sys.executable
    web = (
        f"{python} -m gunicorn 'app:create_app()' --bind 127.0.0.1:{port} --workers 1 "
        "--worker-class gthread --threads 32 --timeout 0"
    )
    worker, sweeper = f"{python} -m workers", f"{python} -m sweeper"
    if reload:
        # Callboard's own packages and the graphs' directory (not the whole tree: a .venv
        # inside it would cost a watch per file)
        dirs = {str(ROOT / name) for name in ("app", "workers", "sweeper")}
        dirs.add(str(Path(settings.config_path).resolve().parent))
        watched = " ".join(shlex.quote(d) for d in sorted(dirs))
        web += " --reload"
        worker = f"{python} -m watchfiles --filter python '{worker}' {watched}"
        sweeper = f"{python} -m watchfiles --filter python '{sweeper}' {watched}"
    manager = Manager()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for name, command in (("web", web), ("worker", worker), ("sweeper", sweeper)):
        manager.add_process(name, command, env=env, cwd=str(ROOT))
    _console().print(f"[bold]callboard dev[/]: http://127.0.0.1:{port}  (dashboard: /dashboard)")
    manager.loop()
    sys.exit(manager.returncode)


def _migrate(settings: Settings) -> int:
    from migrations import apply_all
    from migrations.__main__ import store_index

    try:
        return apply_all(settings.database_url, store_index(settings))
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
def migrate() -> None:
    """Apply the pending migrations to DATABASE_URL (what the Procfile's ``release`` does)."""
    settings = _settings()
    applied = _migrate(settings)
    _console().print(f"database is up to date ({applied} migration file(s) applied now)")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of tables")
@click.option("--limit", default=50, show_default=True, help="running runs / webhooks listed")
def status(as_json: bool, limit: int) -> None:
    """Queue depth, runs by status, running runs per worker with their heartbeat age, lapsed
    runs, due crons and the webhook backlog."""
    from app import operations
    from app.notify import make_redis
    from app.store.db import Database

    settings = _settings()
    db = Database(settings.database_url, min_size=1, max_size=1)
    client = make_redis(settings.redis_url)
    try:
        snap = operations.snapshot(
            db,
            client,
            queue_name=settings.queue_name,
            window=settings.heartbeat_seconds,
            limit=limit,
        )
    finally:
        db.close()
        client.close()
    if as_json:
        click.echo(json.dumps(cli_render.snapshot_json(snap), indent=2))
    else:
        cli_render.print_status(_console(), snap)


@main.group()
def runs() -> None:
    """Runs."""


@runs.command()
@click.argument("run_id", type=click.UUID)
@click.option("--timeout", type=float, default=None, help="give up after this many seconds")
def tail(run_id: uuid.UUID, timeout: float | None) -> None:
    """Print RUN_ID's events as they come (from the start of its stream), until it ends.

    Events are read from the run's Redis Stream, which the worker appends to (the same one
    ``/runs/.../stream`` serves); once it ends, the run's final status is printed. Exits 1 if
    the run does not exist, 2 on ``--timeout``."""
    from app.notify import make_redis
    from app.run_tail import RunNotFound, tail_run
    from app.store.db import Database

    settings = _settings()
    console = _console()
    db = Database(settings.database_url, min_size=1, max_size=1)
    client = make_redis(settings.redis_url)
    try:
        final = tail_run(
            db, client, run_id, lambda e: cli_render.print_event(console, e), timeout=timeout
        )
    except RunNotFound:
        raise click.ClickException(f"run {run_id} not found") from None
    except TimeoutError:
        console.print(f"[yellow]still running after {timeout} s[/]")
        sys.exit(2)
    finally:
        db.close()
        client.close()
    console.print(f"run {run_id} ended: [bold]{final['status']}[/]")


@main.command()
@click.option("--throughput", type=float, help="runs created per second (writes)")
@click.option("--run-seconds", type=float, default=1.0, show_default=True, help="average run time")
@click.option("--reads", type=float, default=0.0, show_default=True, help="reads per second")
@click.option("--n-jobs", type=int, default=None, help="N_JOBS_PER_WORKER [env, or 10]")
@click.option("--seed-profiles", is_flag=True, help="the seed's four profiles, beside its table")
def plan(
    throughput: float | None,
    run_seconds: float,
    reads: float,
    n_jobs: int | None,
    seed_profiles: bool,
) -> None:
    """Size a deployment: workers from the seed's formula (throughput × run seconds /
    N_JOBS_PER_WORKER) and from a worker's CPU per run; web processes, Postgres CPU and
    connections from Callboard's measured costs (app/capacity.py)."""
    if run_seconds <= 0:
        raise click.BadParameter("must be > 0", param_hint="--run-seconds")
    console = _console()
    if seed_profiles:
        plans = [
            capacity.plan(
                p.writes_per_s, run_seconds, reads_per_s=p.reads_per_s, n_jobs=n_jobs or p.n_jobs
            )
            for p in capacity.SEED_PROFILES
        ]
        cli_render.print_plans(console, plans, capacity.SEED_PROFILES)
        return
    if throughput is None:
        raise click.UsageError("give --throughput (runs per second), or --seed-profiles")
    if throughput < 0 or reads < 0:
        raise click.BadParameter("rates must be >= 0")
    try:
        jobs = n_jobs or Settings.from_env().n_jobs_per_worker
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    if jobs < 1:
        raise click.BadParameter("must be >= 1", param_hint="--n-jobs")
    cli_render.print_plans(
        console, [capacity.plan(throughput, run_seconds, reads_per_s=reads, n_jobs=jobs)]
    )


if __name__ == "__main__":
    main()
