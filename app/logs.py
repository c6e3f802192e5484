"""One logging configuration for every process (web, worker, sweeper, migrations).

``configure(settings)`` installs it with ``logging.config.dictConfig``; gunicorn gets the same
dictionary (``gunicorn.conf.py``, ``logconfig_dict``), so its own lines look like the app's.

- ``LOG_LEVEL`` (default INFO) is the level of Callboard's loggers (``app``, ``workers``,
  ``sweeper``, ``migrations``, ``callboard``) and of the libraries' (Dramatiq, APScheduler,
  gunicorn, psycopg), except that ``DEBUG`` leaves the libraries at INFO (their debug lines would
  drown Callboard's). APScheduler's executor announces every job it runs at INFO ("Running job
  …", "… executed successfully", ≈ 40 lines a minute for the sweeper's ticks): it is kept at
  WARNING unless ``LOG_LEVEL=DEBUG``.
- ``LOG_FORMAT=text`` (default): ``time LEVEL [pid] logger message``. ``LOG_FORMAT=json``: one
  JSON object per line (python-json-logger) with ``time``, ``level``, ``logger``, ``process``,
  ``message`` and, when known, ``run_id``, ``thread_id``, ``graph_id``, ``attempt`` and
  ``duration`` (seconds), plus any other ``extra=`` given to the call.
- Run context: code that works on a run wraps that work in ``run_context(...)``; every line
  logged inside it (by any logger, in that thread or task) carries the run's fields.
- ``CALLBOARD_ACCESS_LOG`` (default 1): the web process logs one line per request on the
  ``callboard.access`` logger (``method``, ``path``, ``status``, ``duration`` in seconds, time
  to the response's headers); ``0`` turns it off.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.config
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.config import Settings

# the fields a run's lines carry (LOG_FORMAT=json)
RUN_FIELDS = ("run_id", "thread_id", "graph_id", "attempt")
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s %(message)s"
JSON_FORMAT = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}
ACCESS_LOGGER = "callboard.access"
OWN_LOGGERS = ("app", "workers", "sweeper", "migrations", "callboard")

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "callboard_log_context", default=None
)


@contextlib.contextmanager
def run_context(**fields: Any) -> Iterator[None]:
    """Attach ``fields`` (e.g. ``run_id=…, thread_id=…, graph_id=…, attempt=…``) to every
    record logged inside the block; values are turned into ``str`` unless int/float/bool."""
    current = dict(_context.get() or {})
    current.update({k: _plain(v) for k, v in fields.items() if v is not None})
    token = _context.set(current)
    try:
        yield
    finally:
        _context.reset(token)


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, bool, str)) else str(value)


class ContextFilter(logging.Filter):
    """Copies the current ``run_context`` fields onto each record (an ``extra=`` given to the
    call wins), so formatters see them as attributes."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def dict_config(settings: Settings) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` dictionary for ``settings`` (``log_level``,
    ``log_format``). Also given to gunicorn as ``logconfig_dict``."""
    level = settings.log_level
    if settings.log_format == "json":
        formatter: dict[str, Any] = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FORMAT,
            "rename_fields": JSON_RENAMES,
        }
    else:
        formatter = {"format": TEXT_FORMAT}
    debug = level == "DEBUG"
    libraries = "INFO" if debug else level
    quiet = "DEBUG" if debug else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"run_context": {"()": ContextFilter}},
        "formatters": {"callboard": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "callboard",
                "filters": ["run_context"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": libraries, "handlers": ["stderr"]},
        "loggers": {
            **{name: {"level": level} for name in OWN_LOGGERS},
            # gunicorn's loggers keep their own handlers otherwise: route them to ours
            "gunicorn.error": {"level": libraries, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": libraries, "handlers": ["stderr"], "propagate": False},
            "apscheduler.executors": {"level": quiet},
        },
    }


def configure(settings: Settings) -> None:
    """Install the configuration of ``dict_config(settings)`` in this process (idempotent)."""
    logging.config.dictConfig(dict_config(settings))
