"""Settings from the environment (12-factor). The variable names are the contract with operators,
the Procfile and the tests (DESIGN.md, "Configuration"); keep them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


def _float_at_least(env: dict[str, str], name: str, default: float, minimum: float) -> float:
    """Like ``_float``, with ``minimum`` itself allowed (a retry delay of 0 s)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum:  # NaN too
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
    return value


def _names(env: dict[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list, blanks and repeats dropped, in order."""
    items = (item.strip() for item in (env.get(name) or "").split(","))
    return tuple(dict.fromkeys(item for item in items if item))


def _choice(env: dict[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or default).strip().lower()
    if raw not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be 1 or 0 (true/false), got {raw!r}")


def _log_level(env: dict[str, str]) -> str:
    raw = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    if not isinstance(logging.getLevelName(raw), int):
        raise ConfigurationError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return raw


def _json_object(env: dict[str, str], name: str) -> dict | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{name} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{name} must be a JSON object")
    return value


def redis_tls_url(url: str, cert_reqs: str, ca_certs: str | None) -> str:
    """``url`` with the TLS options a managed Redis needs, for a ``rediss://`` URL (others are
    returned as they are): ``ssl_cert_reqs`` (required | optional | none) and ``ssl_ca_certs``
    (a CA bundle file) as query parameters, which redis-py's ``from_url`` reads; a parameter
    already in the URL wins."""
    parts = urlsplit(url)
    if parts.scheme != "rediss":
        return url
    query = dict(parse_qsl(parts.query))
    query.setdefault("ssl_cert_reqs", cert_reqs)
    if ca_certs:
        query.setdefault("ssl_ca_certs", ca_certs)
    return urlunsplit(parts._replace(query=urlencode(query)))


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
    # logs (app/logs.py): LOG_LEVEL, LOG_FORMAT (text | json), CALLBOARD_ACCESS_LOG
    log_level: str = "INFO"
    log_format: str = "text"
    access_log: bool = True
    # CORS (app/cors.py): CORS_ALLOW_ORIGINS (comma-separated, "*" = any) and CORS_CONFIG (a
    # JSON object like langgraph.json's http.cors, which it overrides), as the official server
    cors_allow_origins: tuple[str, ...] = ("*",)
    cors_config: dict | None = None
    # rediss:// (managed Redis): REDIS_SSL_CERT_REQS (required | optional | none; Heroku Data
    # for Redis needs none: its certificates are self-signed) and REDIS_SSL_CA_CERTS (a file)
    redis_ssl_cert_reqs: str = "required"
    redis_ssl_ca_certs: str | None = None
    # /metrics (app/metrics.py): the directory prometheus-client's multiprocess mode shares
    # between gunicorn's processes (PROMETHEUS_MULTIPROC_DIR; gunicorn.conf.py makes one)
    prometheus_multiproc_dir: str | None = None
    # API keys of the simple auth mode (app/auth.py); empty: no key required
    api_keys: tuple[str, ...] = ()
    # the queues a worker consumes (CALLBOARD_QUEUES, comma-separated; workers/__main__.py);
    # empty: the default queue (queue_name)
    worker_queues: tuple[str, ...] = ()
    # how often the sweeper looks for due crons (CRON_INTERVAL_SECONDS; sweeper/crons.py)
    cron_interval_seconds: float = 10.0
    # webhooks (app/webhooks.py, app/webhook_target.py): CALLBOARD_WEBHOOK_ALLOW_PRIVATE
    # (POST to loopback and private addresses too), CALLBOARD_WEBHOOK_MAX_ATTEMPTS,
    # CALLBOARD_WEBHOOK_RETRY_SECONDS (first retry's delay, doubled each retry) and
    # CALLBOARD_WEBHOOK_TIMEOUT_SECONDS (one POST's deadline)
    webhook_allow_private: bool = False
    webhook_max_attempts: int = 10
    webhook_retry_seconds: float = 5.0
    webhook_timeout_seconds: float = 10.0

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
        settings = cls(
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
            log_level=_log_level(env),
            log_format=_choice(env, "LOG_FORMAT", cls.log_format, ("text", "json")),
            access_log=_flag(env, "CALLBOARD_ACCESS_LOG", cls.access_log),
            cors_allow_origins=tuple(
                o.strip() for o in (env.get("CORS_ALLOW_ORIGINS") or "*").split(",") if o.strip()
            ),
            cors_config=_json_object(env, "CORS_CONFIG"),
            redis_ssl_cert_reqs=_choice(
                env, "REDIS_SSL_CERT_REQS", "required", ("required", "optional", "none")
            ),
            redis_ssl_ca_certs=env.get("REDIS_SSL_CA_CERTS") or None,
            prometheus_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            api_keys=tuple(
                key.strip() for key in env.get("CALLBOARD_API_KEYS", "").split(",") if key.strip()
            ),
            worker_queues=_names(env, "CALLBOARD_QUEUES"),
            cron_interval_seconds=_float(env, "CRON_INTERVAL_SECONDS", cls.cron_interval_seconds),
            webhook_allow_private=_flag(env, "CALLBOARD_WEBHOOK_ALLOW_PRIVATE", False),
            webhook_max_attempts=_int(
                env, "CALLBOARD_WEBHOOK_MAX_ATTEMPTS", cls.webhook_max_attempts, minimum=1
            ),
            webhook_retry_seconds=_float_at_least(
                env, "CALLBOARD_WEBHOOK_RETRY_SECONDS", cls.webhook_retry_seconds, 0.0
            ),
            webhook_timeout_seconds=_float_at_least(
                env, "CALLBOARD_WEBHOOK_TIMEOUT_SECONDS", cls.webhook_timeout_seconds, 0.1
            ),
        )
        # every Redis client is made from redis_url: the TLS options travel in it
        tls_url = redis_tls_url(
            settings.redis_url, settings.redis_ssl_cert_reqs, settings.redis_ssl_ca_certs
        )
        return replace(settings, redis_url=tls_url)
