"""The subscriptions of one WebSocket connection of the thread-streaming protocol
(``app/api/thread_stream.py``): ``subscription.subscribe``, ``subscription.unsubscribe`` and
``subscription.reconnect``, with the replay of the events a new subscription missed.

A subscription is ``(params, after_seq)``: it gets the thread's events with ``seq > after_seq``
that match ``params`` (``SubscribeParams``). The connection's event loop
(``thread_stream._matching_events``) delivers the events after its ``cursor`` (the Redis entry id
it has read through) to every subscription; a subscription installed later first gets, at once,
the matching events up to the cursor (the replay), so it misses nothing and gets nothing twice.

``subscription.reconnect`` takes either form:

- the official server's (``langgraph_api/event_streaming/session.py``): a subscription's
  ``channels`` / ``namespaces`` / ``depth``, a required ``since`` (seq) and an optional
  ``subscription_id`` to keep; answers ``{"subscription_id", "replayed_events"}``, or the
  ``resume_gap`` error (``since``, ``min_available_seq``) when events after ``since`` are no
  longer kept;
- ``langchain_protocol``'s ``ReconnectParams``: ``{run_id, last_event_id?, subscriptions?}``;
  the subscriptions named (made earlier on this thread, on any instance: they are kept in Redis,
  ``app.protocol_stream``) are installed again after ``last_event_id`` (an ``event_id``, or a
  seq), or from the run's start; answers ``ReconnectResult``: ``{"restored", "missed_events"}``,
  ``restored`` false when the run is not the thread's or a subscription or the event is no
  longer known (then what could be restored is).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from langgraph_sdk.stream.subscription import matches_subscription

from app import protocol_stream
from app.api import thread_commands
from app.api.thread_commands import ProtocolError
from app.services import Services
from app.store import runs as run_store


class ResumeGap(Exception):
    """Events after ``since`` were trimmed or expired: the oldest kept is ``min_seq``."""

    def __init__(self, since: int, min_seq: int) -> None:
        super().__init__(f"events after seq {since} are no longer kept (oldest: {min_seq})")
        self.since = since
        self.min_seq = min_seq


class Subscriptions:
    """One connection's subscriptions on thread ``thread_id``.

    Parameters:
        send: sends one message (a dict) to the client.
        cursor: ``{"after": <entry id>}``, the entry the event loop has delivered through (it
            updates it); ``"0-0"`` before its first read. Commands are handled on the loop's
            thread, between two of its reads, so the cursor does not move during one.
    """

    def __init__(
        self,
        svc: Services,
        thread_id: uuid.UUID,
        send: Callable[[dict[str, Any]], None],
        cursor: dict[str, str],
    ) -> None:
        self.svc = svc
        self.thread_id = thread_id
        self.send = send
        self.cursor = cursor
        self.by_id: dict[str, tuple[dict[str, Any], int]] = {}
        self.active: list[tuple[dict[str, Any], int]] = []  # read by the event loop

    def on_command(self, payload: dict[str, Any]) -> bool:
        """Answer ``payload`` if it is a subscription command; False if it is another one."""
        method, params, command_id = payload["method"], payload.get("params"), payload["id"]
        seq = protocol_stream.current_seq(self.svc.redis, self.thread_id)
        try:
            if method == "subscription.subscribe":
                checked = thread_commands.subscription_params(params)
                since = checked.get("since")
                if since is None:
                    since = protocol_stream.start_seq(self.svc.redis, self.thread_id)
                sub_id = str(uuid.uuid4())
                replayed = self.install(sub_id, checked, since)
                result: dict[str, Any] = {"subscription_id": sub_id, "replayed_events": replayed}
            elif method == "subscription.unsubscribe":
                sub_id = params.get("subscription_id") if isinstance(params, dict) else None
                if self.by_id.pop(sub_id, None) is None:  # type: ignore[arg-type]
                    raise ProtocolError("no_such_subscription", f"Unknown subscription: {sub_id}")
                self.active[:] = list(self.by_id.values())
                result = {}
            elif method == "subscription.reconnect":
                result = self.reconnect(params if isinstance(params, dict) else {})
            else:
                return False
        except ProtocolError as exc:
            self.send(thread_commands.error(command_id, exc.code, str(exc)))
            return True
        except ResumeGap as gap:
            answer = thread_commands.error(command_id, "resume_gap", str(gap))
            answer.update(since=gap.since, min_available_seq=gap.min_seq)
            self.send(answer)
            return True
        self.send(thread_commands.success(command_id, result, seq))
        return True

    def install(self, sub_id: str, params: dict[str, Any], after_seq: int) -> int:
        """Add a subscription and keep its filter in Redis; send at once the matching events
        the event loop has passed (it delivers the later ones). Returns how many matching
        events after ``after_seq`` the thread has kept, sent now or next by the loop.

        Raises:
            ResumeGap: events after ``after_seq`` are no longer kept.
        """
        redis = self.svc.redis
        oldest = protocol_stream.first_seq(redis, self.thread_id)
        if oldest is not None and after_seq + 1 < oldest:
            raise ResumeGap(after_seq, oldest)
        passed = _entry_key(self.cursor["after"])
        replayed = 0
        for entry, event in protocol_stream.read_through(redis, self.thread_id, "+"):
            if event["seq"] > after_seq and matches_subscription(event, params):
                replayed += 1
                if _entry_key(entry) <= passed:
                    self.send(event)
        self.by_id[sub_id] = (params, after_seq)
        self.active[:] = list(self.by_id.values())
        protocol_stream.save_subscription(redis, sub_id, self.thread_id, params)
        return replayed

    def reconnect(self, params: dict[str, Any]) -> dict[str, Any]:
        """``subscription.reconnect`` in either form (module docstring).

        Raises:
            ProtocolError: ``invalid_argument`` for a malformed command.
            ResumeGap: the official form, when events after ``since`` are gone.
        """
        if "channels" in params:  # the official server's form
            checked = thread_commands.subscription_params(params)
            if "since" not in checked:
                raise ProtocolError(
                    "invalid_argument", "subscription.reconnect requires a non-negative since"
                )
            sub_id = params.get("subscription_id")
            sub_id = sub_id if isinstance(sub_id, str) and sub_id else str(uuid.uuid4())
            replayed = self.install(sub_id, checked, checked["since"])
            return {"subscription_id": sub_id, "replayed_events": replayed}
        run_id, last, names = (
            params.get("run_id"),
            params.get("last_event_id"),
            params.get("subscriptions"),
        )
        if not isinstance(run_id, str) or (last is not None and not isinstance(last, str)):
            raise ProtocolError("invalid_argument", "run_id (and last_event_id) must be strings")
        if names is not None and not (
            isinstance(names, list) and all(isinstance(n, str) for n in names)
        ):
            raise ProtocolError("invalid_argument", "subscriptions must be a list of ids")
        restored = self._is_threads_run(run_id)
        after_seq = protocol_stream.start_seq(self.svc.redis, self.thread_id)
        if last is not None:
            found = self._seq_of(last)
            restored = restored and found is not None
            after_seq = found if found is not None else after_seq
        missed = 0
        for name in names or []:
            filter_ = protocol_stream.load_subscription(self.svc.redis, name, self.thread_id)
            if filter_ is None:
                restored = False
                continue
            try:
                missed += self.install(name, filter_, after_seq)
            except ResumeGap:
                restored = False
                missed += self.install(name, filter_, self._oldest_seq() - 1)
        return {"restored": restored, "missed_events": missed}

    def _is_threads_run(self, run_id: str) -> bool:
        try:
            parsed = uuid.UUID(run_id)
        except ValueError:
            return False
        return run_store.get(self.svc.db, parsed, self.thread_id) is not None

    def _seq_of(self, last_event_id: str) -> int | None:
        if last_event_id.isdigit():
            return int(last_event_id)
        return protocol_stream.seq_of(self.svc.redis, self.thread_id, last_event_id)

    def _oldest_seq(self) -> int:
        return protocol_stream.first_seq(self.svc.redis, self.thread_id) or 1


def _entry_key(entry_id: str) -> tuple[int, int]:
    """A Redis Stream entry id (``"<ms>-<n>"``) as a tuple that orders like the ids."""
    ms, _, n = entry_id.partition("-")
    return int(ms), int(n or 0)
