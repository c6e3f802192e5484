"""Settings from the environment (12-factor). The variable names are the contract with operators,
the Procfile and the tests (DESIGN.md, "Configuration"); keep them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from app.errors import ConfigurationError

_REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = str(_REPO_ROOT / "examples" / "langgraph.json")


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: dict[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if value <= minimum:
        raise ConfigurationError(f"{name} must be > {minimum}, got {value}")
    return value


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be 1 or 0, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Every knob of Callboard, read once per process.

    Durations are in seconds (floats, so tests can use sub-second windows).
    """

    database_url: str = "postgresql://localhost/callboard"
    redis_url: str = "redis://localhost:6379/0"
    config_path: str = DEFAULT_CONFIG
    n_jobs_per_worker: int = 10
    heartbeat_seconds: float = 30.0
    sweep_interval_seconds: float = 120.0
    shutdown_grace_seconds: float = 30.0
    max_attempts: int = 3
    run_timeout_seconds: float = 3600.0
    # name of the Dramatiq queue; tests give each test its own
    queue_name: str = "callboard"
    # request-side limits of a web process (README, "Configuration")
    max_streams: int = 200
    max_batch_runs: int = 100
    max_json_depth: int = 100
    api_statement_timeout_seconds: float = 30.0
    # the operator's page at /dashboard (CALLBOARD_DASHBOARD=0 turns it off)
    dashboard: bool = True

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default: ``os.environ``, after the ``env`` of the
        ``langgraph.json`` that ``CALLBOARD_CONFIG`` names was applied to it).

        Raises:
            ConfigurationError: a variable is set to something that is not a valid value.
        """
        if env is None:
            # langgraph.json's "env" is applied to the process environment before anything is
            # read from it (app.deployment.apply_env)
            from app.deployment import apply_env

            apply_env(os.environ.get("CALLBOARD_CONFIG") or DEFAULT_CONFIG)
        env = dict(os.environ if env is None else env)
        return cls(
            database_url=env.get("DATABASE_URL") or cls.database_url,
            redis_url=env.get("REDIS_URL") or cls.redis_url,
            config_path=env.get("CALLBOARD_CONFIG") or DEFAULT_CONFIG,
            n_jobs_per_worker=_int(env, "N_JOBS_PER_WORKER", cls.n_jobs_per_worker, minimum=1),
            heartbeat_seconds=_float(env, "HEARTBEAT_SECONDS", cls.heartbeat_seconds),
            sweep_interval_seconds=_float(
                env, "SWEEP_INTERVAL_SECONDS", cls.sweep_interval_seconds
            ),
            shutdown_grace_seconds=_float(
                env, "SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds, minimum=-1e-9
            ),
            max_attempts=_int(env, "MAX_ATTEMPTS", cls.max_attempts, minimum=1),
            run_timeout_seconds=_float(env, "RUN_TIMEOUT_SECONDS", cls.run_timeout_seconds),
            queue_name=env.get("CALLBOARD_QUEUE") or cls.queue_name,
            max_streams=_int(env, "CALLBOARD_MAX_STREAMS", cls.max_streams, minimum=1),
            max_batch_runs=_int(env, "CALLBOARD_MAX_BATCH_RUNS", cls.max_batch_runs, minimum=1),
            max_json_depth=_int(env, "CALLBOARD_MAX_JSON_DEPTH", cls.max_json_depth, minimum=2),
            api_statement_timeout_seconds=_float(
                env, "CALLBOARD_API_STATEMENT_TIMEOUT_SECONDS", cls.api_statement_timeout_seconds
            ),
            dashboard=_flag(env, "CALLBOARD_DASHBOARD", cls.dashboard),
        )
