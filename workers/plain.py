"""The direct path of plain functions (Celery-style tasks): called, not run through Pregel.

A graph registered as a plain function (``app.graphs``: sync or async, one parameter, the input;
returns the new state) is called directly by the worker for every run that asks nothing only
LangGraph provides (``runs_directly``): no Pregel loop, no checkpointer round trips. Its result
becomes ONE checkpoint (``build_checkpoint``) that ``finish_run`` inserts in the statement that
ends the run, so the claim's ``claim_token`` predicate fences it: a stale attempt writes neither
its finish nor its checkpoint.

To a client the thread looks as after a run of the function's ``@entrypoint`` wrapper (the same
``langgraph-checkpoint-postgres`` format, read by the same saver): ``state.values`` is the
result, ``next`` is empty, and ``history`` gains one checkpoint per run (``source: "loop"``,
``step`` as the wrapper would number its last checkpoint) whose parent is the previous run's.
The wrapper's intermediate ``input`` checkpoint is not written.

Runs that go through the wrapper (Pregel) instead: a ``command`` (resume), ``checkpoint_id``,
``interrupt_before``/``interrupt_after``, ``subgraphs``, any stream mode other than ``values``
and ``updates``, and functions that take more than the input (``previous``, ``config``,
``writer``, ``store``: LangGraph injects those).
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from langgraph.checkpoint.base import empty_checkpoint, get_serializable_checkpoint_metadata
from langgraph.checkpoint.postgres.base import BasePostgresSaver
from langgraph.constants import END, START

from app.graphs import GraphSpec
from app.store.checkpoints import CheckpointRows
from app.store.runs import Claim
from app.streams import StreamWriter

# stream modes a direct call produces (as the wrapper does: ``updates`` then ``values``)
DIRECT_STREAM_MODES = frozenset({"values", "updates"})
# the wrapper's channel that holds the last result (an @entrypoint's ``previous``)
PREVIOUS = "__previous__"


def runs_directly(spec: GraphSpec, kwargs: dict[str, Any]) -> bool:
    """True when the run of ``spec`` with these ``kwargs`` (the run's) takes the direct path."""
    if spec.kind != "function" or spec.function is None or spec.node is None:
        return False
    if not _takes_only_input(spec.function):
        return False
    if any(
        kwargs.get(k)
        for k in ("command", "checkpoint_id", "interrupt_before", "interrupt_after", "subgraphs")
    ):
        return False
    return set(kwargs["stream_mode"]) <= DIRECT_STREAM_MODES


def _takes_only_input(fn: Any) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    return len(params) == 1 and params[0].kind in (
        params[0].POSITIONAL_ONLY,
        params[0].POSITIONAL_OR_KEYWORD,
    )


async def call(spec: GraphSpec, graph_input: Any, writer: StreamWriter, modes: list[str]) -> Any:
    """Call the function on ``graph_input`` and publish its result in the requested ``modes``
    (``updates``: ``{node: result}``, then ``values``: the result). A sync function runs in the
    event loop's thread pool (cancelling the attempt ends it at once; the function's thread
    runs on until it returns, and its result is dropped). Returns the result; the function's
    exceptions propagate."""
    fn = spec.function
    assert fn is not None
    if inspect.iscoroutinefunction(fn):
        result = await fn(graph_input)
    else:
        result = await asyncio.get_running_loop().run_in_executor(None, fn, graph_input)
    if "updates" in modes:
        await writer.send("updates", {spec.node: result})
    if "values" in modes:
        await writer.send("values", result)
    return result


def build_checkpoint(
    saver: BasePostgresSaver,
    spec: GraphSpec,
    claim: Claim,
    config: dict[str, Any],
    result: Any,
) -> CheckpointRows:
    """The checkpoint a run of the ``@entrypoint`` wrapper leaves at its end, for ``result``:
    the result in ``__end__`` and ``__previous__``, every channel at one new version (the
    saver's ``get_next_version`` over the parent's highest), ``__start__`` seen by the node;
    split into inline values and blobs as ``AsyncPostgresSaver.aput`` does, with the saver's
    own serializer and metadata helper. ``config``: the run's (its metadata goes in the
    checkpoint's, as LangGraph records it)."""
    parent = claim.parent or {}
    versions = parent.get("channel_versions") or {}
    version = saver.get_next_version(max(versions.values(), default=None), None)
    checkpoint = empty_checkpoint()
    checkpoint["channel_versions"] = {START: version, END: version, PREVIOUS: version}
    checkpoint["versions_seen"] = {"__input__": {}, spec.node: {START: version}}
    checkpoint["updated_channels"] = [END, PREVIOUS]
    values = {END: result, PREVIOUS: result}
    inline = {k: v for k, v in values.items() if v is None or isinstance(v, (str, int, float))}
    blob_values = {k: v for k, v in values.items() if k not in inline}
    checkpoint["channel_values"] = inline
    thread_id = str(claim.thread_id)
    blobs = saver._dump_blobs(  # noqa: SLF001 - the saver's own serialization of blobs
        thread_id, "", blob_values, {k: version for k in blob_values}
    )
    step = parent.get("step")
    metadata = {"source": "loop", "step": 0 if step is None else step + 2, "parents": {}}
    return CheckpointRows(
        checkpoint_id=checkpoint["id"],
        parent_checkpoint_id=parent.get("checkpoint_id"),
        checkpoint=dict(checkpoint),
        metadata=get_serializable_checkpoint_metadata(config, metadata),
        blobs=tuple(tuple(b[2:]) for b in blobs),
    )
