"""Classic runs on a thread (``runs.create``, ``runs.stream``) seen on the thread's protocol
stream (``POST /threads/{id}/stream/events``), as the official server (langgraph-api 0.16.7,
``langgraph dev``) shows them (``workers/classic_protocol.py``). The expected events are the
official server's answers to the same calls, recorded by hand (timestamps and ids dropped):

- ``runs.create`` of ``accumulate`` ``{"numbers": [1, 2]}`` (stream_mode ``values``):
  lifecycle running, values ×3, lifecycle completed;
- ``runs.stream`` with ``stream_mode=["updates"]``: lifecycle running, ``updates`` of
  ``validate`` then ``summarize`` (``params.node``, ``data`` the node's update), completed;
- a failing run: running, values, ``failed`` with the error's message;
- ``review`` (an ``interrupt()``): running, values ×3, ``input.requested`` (the interrupt's id
  and payload), ``interrupted`` (the official server sends the third values event last).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph_sdk import get_sync_client

from tests.acceptance.test_thread_protocol import command, is_root_end, sse_events
from tests.support import Stack

pytestmark = pytest.mark.timeout(240)
CHANNELS = ["values", "updates", "lifecycle", "custom", "input", "messages", "tasks"]


def shown(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """``(method, data)`` of each event, ``params.node`` added to an update's."""
    out = []
    for event in events:
        data = event["params"]["data"]
        if event["method"] == "updates":
            data = (event["params"]["node"], data)
        out.append((event["method"], data))
    return out


def watch(url: str, thread_id: str) -> tuple[threading.Thread, list[dict[str, Any]]]:
    """Subscribe (in a thread of its own) to the events after the thread's current seq (a
    command's ``applied_through_seq``) until a root end: the next run's events, whenever the
    subscription is served."""
    seq = command(url, thread_id, "subscription.subscribe", {"channels": CHANNELS})
    subscription = {"channels": CHANNELS, "since": seq["meta"]["applied_through_seq"]}
    events: list[dict[str, Any]] = []
    thread = threading.Thread(
        target=sse_events,
        args=(url, thread_id, subscription, lambda got: is_root_end(got[-1])),
        kwargs={"into": events},
        daemon=True,
    )
    thread.start()
    return thread, events


@pytest.fixture
def served(stack: Stack) -> Iterator[tuple[str, Any]]:
    """``(url, sync SDK client)`` of a web instance with a worker."""
    web = stack.web()
    stack.worker()
    with get_sync_client(url=web.url) as sdk:
        yield web.url, sdk


def test_classic_runs_on_a_thread_show_on_its_protocol_stream(served: tuple[str, Any]) -> None:
    url, sdk = served
    thread_id = sdk.threads.create()["thread_id"]

    watcher, events = watch(url, thread_id)
    run = sdk.runs.create(thread_id, "accumulate", input={"numbers": [1, 2]})
    sdk.runs.join(thread_id, run["run_id"])
    watcher.join(timeout=60)
    assert shown(events) == [
        ("lifecycle", {"event": "running", "graph_name": "accumulate"}),
        ("values", {"numbers": [1, 2], "runs": 0}),
        ("values", {"numbers": [1, 2], "runs": 1}),
        ("values", {"numbers": [1, 2], "runs": 1, "total": 3, "count": 2, "mean": 1.5}),
        ("lifecycle", {"event": "completed", "graph_name": "accumulate"}),
    ]

    watcher, events = watch(url, thread_id)
    for _part in sdk.runs.stream(
        thread_id, "accumulate", input={"numbers": [3]}, stream_mode=["updates"]
    ):
        pass
    watcher.join(timeout=60)
    assert shown(events) == [
        ("lifecycle", {"event": "running", "graph_name": "accumulate"}),
        ("updates", ("validate", {"runs": 1})),
        ("updates", ("summarize", {"total": 6, "count": 3, "mean": 2.0})),
        ("lifecycle", {"event": "completed", "graph_name": "accumulate"}),
    ]

    failing = sdk.threads.create()["thread_id"]
    watcher, events = watch(url, failing)
    run = sdk.runs.create(failing, "accumulate", input={"numbers": ["x"]})
    sdk.runs.join(failing, run["run_id"])
    watcher.join(timeout=60)
    assert shown(events) == [
        ("lifecycle", {"event": "running", "graph_name": "accumulate"}),
        ("values", {"numbers": ["x"], "runs": 0}),
        (
            "lifecycle",
            {"event": "failed", "graph_name": "accumulate", "error": "not a number: 'x'"},
        ),
    ]


def test_a_classic_run_stopped_at_an_interrupt_asks_for_input(served: tuple[str, Any]) -> None:
    url, sdk = served
    thread_id = str(uuid.uuid4())
    sdk.threads.create(thread_id=thread_id)
    watcher, events = watch(url, thread_id)
    run = sdk.runs.create(thread_id, "review", input={"topic": "cats"})
    sdk.runs.join(thread_id, run["run_id"])
    watcher.join(timeout=60)
    interrupt_id = sdk.threads.get_state(thread_id)["interrupts"][0]["id"]
    draft = "a post about cats for anyone"
    assert shown(events) == [
        ("lifecycle", {"event": "running", "graph_name": "review"}),
        ("values", {"topic": "cats", "log": []}),
        ("values", {"topic": "cats", "draft": draft, "log": ["draft"]}),
        # the official server sends this one (the step that stopped) after ``interrupted``;
        # Callboard announces the interrupt once it is committed, so it comes before
        ("values", {"topic": "cats", "draft": draft, "log": ["draft"]}),
        (
            "input.requested",
            {"interrupt_id": interrupt_id, "payload": {"question": "publish?", "draft": draft}},
        ),
        ("lifecycle", {"event": "interrupted", "graph_name": "review"}),
    ]
