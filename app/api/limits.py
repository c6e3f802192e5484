"""Request-side limits of a web process: how many long-lived requests it holds at once, and how
deeply nested a JSON body may be.

Long-lived requests (streams, joins, waits, a cancel that waits) each hold a gunicorn thread for
as long as the run lasts. ``CALLBOARD_MAX_STREAMS`` of them may be open at once per process; one
more is answered ``503`` with ``Retry-After`` at once instead of queueing behind the others, so
short requests always find a thread. A route is long-lived when its rule ends with ``/stream``,
``/stream/events``, ``/join`` or ``/wait``, or is a cancel with ``wait=true``: new routes of those
shapes are covered without registering them here.

JSON bodies nested deeper than ``CALLBOARD_MAX_JSON_DEPTH`` (arrays and objects) are refused with
a 422 before anything reads them: a body nested some hundreds deep parses, then exhausts Python's
recursion in the code that walks it.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app, g, request
from flask.json.provider import DefaultJSONProvider

from app.errors import InvalidInput, Overloaded

LONG_LIVED_SUFFIXES = ("/stream", "/stream/events", "/join", "/wait")


class Slots:
    """A counter of long-lived requests with a hard cap (``acquire`` never blocks)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.in_use >= self.capacity:
                return False
            self.in_use += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.in_use = max(self.in_use - 1, 0)


class _Held:
    """One acquired slot, released exactly once."""

    def __init__(self, slots: Slots) -> None:
        self._slots = slots
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._slots.release()


def is_long_lived() -> bool:
    """Whether the current request holds its thread for as long as a run lasts."""
    rule = request.url_rule.rule if request.url_rule is not None else ""
    if rule.endswith(LONG_LIVED_SUFFIXES):
        return True
    wait = request.args.get("wait", "").lower()
    return rule.endswith("/cancel") and wait in ("1", "true", "yes")


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) nests arrays/objects more than ``limit`` deep (iterative:
    it cannot itself run out of stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def check_json_depth(value: Any, app: Flask | None = None) -> Any:
    """Return ``value``; raise ``InvalidInput`` if it nests deeper than ``app`` (default: the
    current app) allows."""
    limit = (app or current_app).extensions["callboard"].settings.max_json_depth
    if json_depth_exceeds(value, limit):
        raise too_deep(limit)
    return value


def too_deep(limit: int) -> InvalidInput:
    """The error of a JSON body nested deeper than ``limit`` levels."""
    return InvalidInput(f"Invalid JSON in request body: nested deeper than {limit} levels")


class DepthCheckedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, except that ``request.get_json()`` refuses a body nested deeper
    than the app allows (and one too deep for the decoder itself) with ``InvalidInput``."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise too_deep(self._app.extensions["callboard"].settings.max_json_depth) from None
        return check_json_depth(value, self._app)


def register_limits(app: Flask) -> None:
    """Install the long-lived request cap on every route of ``app``."""
    slots = Slots(app.extensions["callboard"].settings.max_streams)
    app.extensions["callboard.slots"] = slots

    @app.before_request
    def take_slot() -> None:
        if not is_long_lived():
            return
        if not slots.acquire():
            raise Overloaded(
                f"this process already serves {slots.capacity} streams, joins and waits; "
                f"retry in {Overloaded.retry_after_seconds} s or on another instance"
            )
        g.callboard_slot = _Held(slots)

    @app.after_request
    def release_when_sent(response: Any) -> Any:
        held = g.pop("callboard_slot", None)
        if held is not None:  # a streamed body: held until the server closes the response
            response.call_on_close(held.release)
        return response

    @app.teardown_request
    def release_on_failure(exc: BaseException | None) -> None:
        held = g.pop("callboard_slot", None)
        if held is not None:  # after_request never ran
            held.release()
