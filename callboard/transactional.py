"""``app.enqueue_in(conn, signature)``: a task run created inside the caller's transaction.

The run (or a whole canvas) is inserted with the store's own run creation
(``app.canvas.create_in`` → ``app.store.run_creation.create_in``) on the caller's psycopg 3
connection, so it exists if and only if the caller commits. Its wake-up message must follow the
COMMIT, which this process cannot see: a ``NOTIFY`` in the same transaction does it (Postgres
delivers it at COMMIT, never after a rollback) and the sweeper's listener
(``sweeper/enqueued.py``) sends the message. Were the notification lost (no sweeper listening
at that instant), the sweeper's periodic re-send of pending runs without a message covers it
(the pattern of Procrastinate's ``procrastinate_notify_queue``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app import canvas
from app.queue import run_queue, start_delay
from app.store import canvas as canvas_store

if TYPE_CHECKING:
    from callboard.app import Callboard


def enqueue_in(app: Callboard, conn: Any, made: dict[str, Any]) -> Any:
    """Create ``made["spec"]`` (``callboard.canvas.as_canvas``) on ``conn`` → its result.

    Raises:
        app.errors.InvalidInput, app.errors.NotFound: a bad canvas, an unknown task."""
    cursor = canvas_store.caller_cursor(conn)
    answer, created = canvas.create_in(cursor, made["spec"], app.tasks)
    for row in created:
        canvas_store.notify_created(cursor, row, run_queue(row), start_delay(row))
    return made["result"](answer)
