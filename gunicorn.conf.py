"""Gunicorn settings, read from the working directory by ``gunicorn "app:create_app()"``.

Gunicorn treats SIGINT as "quick shutdown" (workers exit at once, dropping requests in flight).
The seed's contract is that SIGINT, like SIGTERM, stops accepting and finishes in-flight requests,
and a PaaS may send either to the whole process group; so both hooks below map SIGINT to the
graceful path (the arbiter's ``handle_term``, the worker's ``handle_exit``).

Also: the logging configuration of ``app/logs.py`` (``LOG_LEVEL``, ``LOG_FORMAT``) for gunicorn's
own lines, and prometheus-client's multiprocess mode for ``/metrics`` (``app/metrics.py``): every
web process writes its metrics under ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary directory
per gunicorn when unset; emptied at start when set), and a dead process's files are marked so
its gauges leave the sums.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

from app.config import Settings
from app.logs import dict_config

_settings = Settings.from_env()
logconfig_dict = dict_config(_settings)
loglevel = _settings.log_level.lower()

# set before any web process imports prometheus_client (it reads the variable at import)
_own_metrics_dir = not _settings.prometheus_multiproc_dir
if _own_metrics_dir:
    _metrics_dir = Path(tempfile.mkdtemp(prefix="callboard-metrics-"))
else:
    _metrics_dir = Path(str(_settings.prometheus_multiproc_dir))
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for _stale in _metrics_dir.glob("*.db"):  # figures of an earlier gunicorn
        _stale.unlink()
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)

graceful_timeout = 30
# gunicorn 27's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl),
# shared by every gunicorn on the machine; Callboard does not use it
control_socket_disable = True


def on_exit(server: Any) -> None:
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def when_ready(server: Any) -> None:
    server.handle_int = server.handle_term


def post_worker_init(worker: Any) -> None:
    def stop(sig: int, frame: Any) -> None:
        # open SSE streams never end by themselves: end them now (cleanly), so their clients
        # reconnect to another instance instead of holding this one for the graceful timeout
        from app.streams import close_open_streams

        close_open_streams()
        worker.handle_exit(sig, frame)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
