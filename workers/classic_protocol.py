"""A classic run on a thread (``runs.create`` / ``runs.stream`` / ``runs.wait``) shown to the
thread's protocol subscribers (``POST /threads/{id}/stream/events``, its WebSocket), as the
official server shows it (``langgraph_api/event_streaming/session.py``, path 1: the run's own
stream events turned into protocol events):

- a root ``lifecycle`` ``running`` when the run starts;
- the run's requested stream modes, each chunk as one event under its namespace:
  ``values`` (without its ``__interrupt__`` key; an empty one is skipped), ``updates`` (one per
  node: ``params.node``, ``data`` the node's update; the ``__interrupt__`` update is skipped),
  ``custom`` (``data`` ``{"payload": chunk}``) and ``tasks`` as they come. The other modes
  (``messages``/``messages-tuple`` tuples, ``debug``, ``checkpoints``, ``events``) have no
  protocol form there and are not shown, as in the official server;
- the end, as for a protocol run (``app.protocol_stream.end_run``): ``completed``; ``failed``
  with the error (also for a cancel or a timeout); one ``input.requested`` per root interrupt
  then ``interrupted``.

A Redis failure here never fails the run: it is logged and the rest of the run is not shown.
Stateless runs (their thread is temporary) and plain functions are not shown.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
import redis.asyncio

from app import protocol_stream

logger = logging.getLogger(__name__)

SHOWN_MODES = ("values", "updates", "custom", "tasks")


class ClassicMirror:
    """The protocol events of one classic run (module docstring).

    Parameters:
        requested: the run's ``stream_mode`` list; only these modes are shown.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        thread_id: Any,
        run_id: Any,
        graph_name: str,
        requested: list[str],
    ) -> None:
        self.client = client
        self.thread_id = thread_id
        self.run_id = run_id
        self.graph_name = graph_name
        self.modes = {m for m in requested if m in SHOWN_MODES}
        self.broken = False

    async def start(self) -> None:
        """Mark the run as shown (its end is appended by ``end_run``) and open it."""
        await self._guard(self._start())

    async def publish(self, mode: str, namespace: tuple[str, ...], chunk: Any) -> None:
        """Show one LangGraph stream chunk of ``mode`` (if the run asked for that mode)."""
        if mode in self.modes and not self.broken:
            for event in _events(mode, list(namespace), chunk):
                await self._guard(self._append(event))

    async def interrupted(self, interrupts: dict[str, list[dict[str, Any]]] | None) -> None:
        """The run stopped at an interrupt: keep its root interrupts (``{task_id: [{"value",
        "id"}]}``) for ``end_run``, which announces them."""
        requests = [
            {"interrupt_id": item["id"], "payload": item["value"]}
            for items in (interrupts or {}).values()
            for item in items
        ]
        await self._guard(protocol_stream.aset_pending_input(self.client, self.run_id, requests))

    async def _start(self) -> None:
        await protocol_stream.amark_run_start(self.client, self.thread_id, self.run_id)
        await self._append(protocol_stream.lifecycle("running", self.graph_name))

    async def _append(self, event: dict[str, Any]) -> None:
        await protocol_stream.aappend(self.client, self.thread_id, self.run_id, event)

    async def _guard(self, step: Any) -> None:
        if self.broken:
            step.close()
            return
        try:
            await step
        except redis.RedisError as exc:
            self.broken = True
            logger.warning("run %r: not shown on its thread's stream: %s", str(self.run_id), exc)


def _events(mode: str, namespace: list[str], chunk: Any) -> list[dict[str, Any]]:
    if mode == "values":
        if isinstance(chunk, dict):
            chunk = {k: v for k, v in chunk.items() if k != "__interrupt__"}
        return [protocol_stream.make_event("values", namespace, chunk)] if chunk else []
    if mode == "updates":
        if not isinstance(chunk, dict):
            return []
        return [
            protocol_stream.make_event("updates", namespace, values, node=node)
            for node, values in chunk.items()
            if node != "__interrupt__"
        ]
    if mode == "custom":
        return [protocol_stream.make_event("custom", namespace, {"payload": chunk})]
    return [protocol_stream.make_event(mode, namespace, chunk)]
