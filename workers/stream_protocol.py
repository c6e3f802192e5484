"""The worker's producer of thread-streaming protocol events (``langchain_protocol``).

A protocol run (started by a ``run.start`` or ``input.respond`` command) runs through
LangGraph's own producer of these events: ``graph.astream_events(version="v3")`` (the
``langgraph.stream`` mux with its built-in transformers: values, messages, lifecycle,
subgraphs; plus those of the ``tools``, ``custom``, ``updates`` and ``tasks`` channels, which
the official server streams for every protocol run, unless the graph was compiled with them).
Each event of the mux's main log is shaped to the wire as the official
server shapes it (``langgraph_api/event_streaming/session.py``, path 2) and appended to the
thread's protocol stream (``app.protocol_stream``), which every web instance reads:

- ``values`` with ``params.interrupts`` → one ``input.requested`` event per interrupt
  (``{"interrupt_id", "payload"}``), then a root ``lifecycle`` ``interrupted``: for the root
  graph, appended by ``app.protocol_stream.end_run`` once the thread's pending interrupts are
  committed (a client may answer at once);
- ``messages`` → ``params.data`` is the protocol message event (``message-start``,
  ``content-block-*``, ``message-finish``); the LangChain metadata is dropped;
- ``updates`` → ``{"node", "values"}`` with ``params.node``; the ``__interrupt__`` update is
  carried by ``input.requested`` instead;
- ``lifecycle`` of a subgraph (the mux announces it at the root scope, the subgraph's namespace
  in ``data.namespace``) → under the subgraph's namespace; its ``completed``/``failed``/
  ``interrupted`` waits for the parent's next root ``values`` event (the step's checkpoint):
  SDK 0.4.0–0.4.3 end ``thread.output`` on any ``completed`` lifecycle, whatever its namespace,
  and then read the thread's state, which must hold the subgraph's result;
- everything else (``custom``, ``tools``, ``tasks``) as is.

The root ``lifecycle`` ``running`` opens the run; its terminal event (``completed``/``failed``)
is appended after the final status is committed (``app.protocol_stream.end_run``), so a
cancelled, timed-out or swept run ends its subscribers' projections too.

``run_protocol_stream`` is the one entry point, so an executor can call it whatever runs
around it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from langgraph.prebuilt._tool_call_transformer import ToolCallTransformer
from langgraph.stream import CustomTransformer, TasksTransformer, UpdatesTransformer

from app import protocol_stream

logger = logging.getLogger(__name__)

_TERMINAL = ("completed", "failed", "interrupted")

# transformers added to the built-in ones (values, messages, lifecycle, subgraphs): each asks
# the graph for its stream mode, so the channels of the protocol all get events
EXTRA_TRANSFORMERS = (ToolCallTransformer, CustomTransformer, UpdatesTransformer, TasksTransformer)


@dataclass
class ProtocolResult:
    """What a protocol run left: its last root values, and whether it stopped at an interrupt."""

    values: Any = None
    interrupted: bool = False


async def run_protocol_stream(
    graph: Any,
    graph_input: Any,
    config: dict[str, Any],
    options: dict[str, Any],
    client: redis.asyncio.Redis,
    *,
    thread_id: Any,
    run_id: Any,
    graph_name: str,
) -> ProtocolResult:
    """Run ``graph`` through ``astream_events(version="v3")`` and append its protocol events to
    the thread's stream.

    Parameters:
        options: ``astream`` keyword arguments (``context``, ``durability``,
            ``interrupt_before``, ``interrupt_after``); never ``stream_mode``/``subgraphs``.

    Raises: whatever the graph raises (the caller turns it into the run's outcome), and
    ``redis.RedisError`` when the stream cannot be written.
    """
    result = ProtocolResult()

    async def emit(event: dict[str, Any]) -> None:
        await protocol_stream.aappend(client, thread_id, run_id, event)

    await emit(protocol_stream.lifecycle("running", graph_name))
    compiled_with = tuple(getattr(graph, "stream_transformers", ()) or ())
    extra = [t for t in EXTRA_TRANSFORMERS if t not in compiled_with]
    run = await graph.astream_events(
        graph_input, config, version="v3", transformers=extra, **options
    )
    interrupts: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    async for event in run:
        method, params = event["method"], event["params"]
        namespace = list(params.get("namespace") or [])
        data = params.get("data")
        if method == "values":
            if not namespace:
                result.values = data
            for interrupt in params.get("interrupts") or ():
                request = _interrupt_request(interrupt)
                if request is not None and not namespace:
                    interrupts.append(request)
                elif request is not None:
                    await emit(protocol_stream.make_event("input.requested", namespace, request))
            await emit(protocol_stream.make_event("values", namespace, data))
            if not namespace:
                for held_event in held:
                    await emit(held_event)
                held.clear()
        elif method == "messages":
            message = data[0] if isinstance(data, (list, tuple)) and data else data
            if isinstance(message, dict) and isinstance(message.get("event"), str):
                await emit(protocol_stream.make_event("messages", namespace, message))
        elif method == "updates":
            shaped = _update(data)
            if shaped is not None:
                node = shaped.get("node")
                extra = {"node": node} if node else {}
                await emit(protocol_stream.make_event("updates", namespace, shaped, **extra))
        elif method == "lifecycle":
            # LifecycleTransformer runs at the root scope: the subgraph it announces is in
            # data.namespace; root lifecycle is this module's and end_run's to send
            child = data.get("namespace") if isinstance(data, dict) else None
            if isinstance(child, list) and len(child) > len(namespace):
                namespace = list(child)
            if namespace and isinstance(data, dict):
                shaped = {k: v for k, v in data.items() if k != "namespace"}
                event = protocol_stream.make_event("lifecycle", namespace, shaped)
                if shaped.get("event") in _TERMINAL:
                    held.append(event)  # sent after the step's checkpoint (below)
                else:
                    await emit(event)
        else:
            await emit(protocol_stream.make_event(method, namespace, data))
    for held_event in held:
        await emit(held_event)
    if interrupts:
        # announced once the run's end (and the thread's pending interrupts) are committed, so
        # a client answering at once finds them (app.protocol_stream.end_run)
        result.interrupted = True
        await protocol_stream.aset_pending_input(client, run_id, interrupts)
    return result


def _interrupt_request(interrupt: Any) -> dict[str, Any] | None:
    """A LangGraph ``Interrupt`` (object or dict) as ``{"interrupt_id", "payload"}``."""
    interrupt_id = getattr(interrupt, "id", None)
    value = getattr(interrupt, "value", None)
    if isinstance(interrupt, dict):
        interrupt_id, value = interrupt.get("id"), interrupt.get("value")
    if not isinstance(interrupt_id, str):
        return None
    return {"interrupt_id": interrupt_id, "payload": value}


def _update(data: Any) -> dict[str, Any] | None:
    """``{node: values}`` as ``{"node", "values"}``; None for the ``__interrupt__`` update."""
    if isinstance(data, dict) and len(data) == 1:
        node, values = next(iter(data.items()))
        if node == "__interrupt__":
            return None
        return {"node": node, "values": values if isinstance(values, dict) else {"value": values}}
    return {"values": data if isinstance(data, dict) else {"value": data}}
