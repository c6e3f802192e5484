"""Gunicorn settings read automatically from the working directory (``gunicorn "app:create_app()"``).

Gunicorn treats SIGINT as "quick shutdown" (workers exit at once, dropping requests in flight).
The seed's contract is that SIGINT, like SIGTERM, stops accepting and finishes in-flight requests,
and a PaaS may send either to the whole process group; so both hooks below map SIGINT to the
graceful path (the arbiter's ``handle_term``, the worker's ``handle_exit``).
"""

from __future__ import annotations

import signal
from typing import Any

graceful_timeout = 30
# gunicorn 27's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl),
# shared by every gunicorn on the machine; Callboard does not use it
control_socket_disable = True


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
