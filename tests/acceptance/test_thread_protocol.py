"""The thread-streaming protocol end to end (``POST /threads/{id}/commands``, SSE and WebSocket at
``/threads/{id}/stream/events``), on real web and worker processes, through ``langgraph_sdk``'s
own thread streams and through the raw wire (``langchain_protocol`` events).

What is proved:

- the SDK's ``threads.stream`` over SSE and over WebSocket: values until the interrupt, the
  interrupt's id and payload, ``run.respond``, the output; the events' shapes;
- a root ``lifecycle`` event ends every run: ``completed``; ``failed`` with the error for an
  error, a timeout and a cancel (the official server sends nothing after a cancel, and the SDK
  waits forever); ``input.requested`` then ``interrupted`` for an interrupt;
- two runs on one thread: both streamed on one subscription, in order, each ended;
- a subscriber on one web instance, the command sent to another, the first killed mid-run and
  the subscription resumed on a third with ``since``: nothing lost or repeated (SSE and WS);
- subscriptions filtered by channel and namespace;
- commands refused with the protocol's error codes;
- ``raise_error`` in a ``runs/wait`` body (SDK 0.4.0–0.4.9) is accepted, an unknown field is
  not; a ``(config, runtime)`` factory gets the execution runtime.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.support import Stack, wait_for

pytestmark = pytest.mark.timeout(240)

DEADLINE_SECONDS = 60.0


# --- helpers ------------------------------------------------------------------------------------


def command(url: str, thread_id: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(
        f"{url}/threads/{thread_id}/commands",
        json={"id": 1, "method": method, "params": params},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def start(url: str, thread_id: str, assistant_id: str, graph_input: Any, **params: Any) -> str:
    answer = command(
        url, thread_id, "run.start", {"assistant_id": assistant_id, "input": graph_input, **params}
    )
    assert answer["type"] == "success", answer
    return answer["result"]["run_id"]


def is_root_end(event: dict[str, Any]) -> bool:
    return (
        event["method"] == "lifecycle"
        and event["params"]["namespace"] == []
        and event["params"]["data"]["event"] in ("completed", "failed", "interrupted")
    )


def sse_events(
    url: str,
    thread_id: str,
    subscription: dict[str, Any],
    until: Callable[[list[dict[str, Any]]], bool],
    into: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The events of an SSE subscription until ``until(events)`` (AssertionError after
    ``DEADLINE_SECONDS``); a dropped connection ends the list early (the caller checks)."""
    events = into if into is not None else []
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        with httpx.stream(
            "POST",
            f"{url}/threads/{thread_id}/stream/events",
            json=subscription,
            headers={"accept": "text/event-stream"},
            timeout=httpx.Timeout(30, read=10),
        ) as response:
            assert response.status_code == 200, response.read()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    if until(events):
                        return events
                assert time.monotonic() < deadline, f"no end within {DEADLINE_SECONDS} s: {events}"
    except (httpx.RemoteProtocolError, httpx.ReadError):
        pass
    return events


def root_lifecycle(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["params"]["data"]["event"]
        for e in events
        if e["method"] == "lifecycle" and e["params"]["namespace"] == []
    ]


def ticks(events: list[dict[str, Any]]) -> list[int]:
    return [e["params"]["data"]["i"] for e in events if e["method"] == "custom"]


def kill_after_five_ticks(ws: Any, web: Any, into: list[dict[str, Any]]) -> None:
    """Read a WebSocket's events into ``into`` until five ticks, kill ``web`` (the instance it
    is connected to), and read what still comes until the socket closes."""
    try:
        while len(ticks(into)) < 5:
            into.append(json.loads(ws.recv(timeout=30)))
        web.signal(signal.SIGKILL, group=True)
        web.wait(timeout=30)
        while True:
            into.append(json.loads(ws.recv(timeout=30)))
    except (ConnectionClosed, TimeoutError):
        pass


def assert_seqs_increase(events: list[dict[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), seqs  # strictly increasing: nothing twice
    assert all(e["event_id"] and e["type"] == "event" for e in events)


# --- the SDK's thread streams -------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_the_sdk_streams_a_thread_through_an_interrupt_to_its_output(
    stack: Stack, transport: str
) -> None:
    web = stack.web()
    stack.worker()

    async def scenario() -> tuple[list[Any], list[Any], Any]:
        async with (
            get_client(url=web.url) as client,
            client.threads.stream(assistant_id="review", transport=transport) as thread,
        ):
            await thread.run.start(input={"topic": "tides"})
            snapshots = [snapshot async for snapshot in thread.values]
            interrupts = list(thread.interrupts)
            assert thread.interrupted
            await thread.run.respond("approve")
            return snapshots, interrupts, await thread.output

    snapshots, interrupts, output = asyncio.run(scenario())
    assert snapshots[-1]["topic"] == "tides" and snapshots[-1]["log"] == ["draft"]
    assert [i["namespace"] for i in interrupts] == [[]]
    assert len(interrupts[0]["interrupt_id"]) > 0
    assert output["verdict"] == "approve" and output["published"] is True
    assert output["log"] == ["draft", "review", "publish"]


# --- lifecycle of every outcome -----------------------------------------------------------------


def test_a_root_lifecycle_event_ends_every_outcome(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    lifecycle = {"channels": ["lifecycle", "input"]}

    def run_to_end(assistant_id: str, graph_input: Any, **params: Any) -> list[dict[str, Any]]:
        thread_id = str(uuid.uuid4())
        start(web.url, thread_id, assistant_id, graph_input, **params)
        return sse_events(web.url, thread_id, lifecycle, lambda evs: is_root_end(evs[-1]))

    # success
    events = run_to_end("ticker", {"count": 2})
    assert root_lifecycle(events) == ["running", "completed"]
    assert events[-1]["params"]["data"] == {"event": "completed", "graph_name": "ticker"}

    # error: the graph's exception
    events = run_to_end("ticker", {"count": 1, "fail": "boom"})
    assert root_lifecycle(events) == ["running", "failed"]
    assert "boom" in events[-1]["params"]["data"]["error"]

    # timeout: the run's time limit
    events = run_to_end(
        "ticker",
        {"count": 100, "interval": 0.1},
        config={"configurable": {"run_timeout_seconds": 1}},
    )
    assert root_lifecycle(events) == ["running", "failed"]
    assert "time limit" in events[-1]["params"]["data"]["error"]

    # interrupt: input.requested, then interrupted (never completed)
    events = run_to_end("review", {"topic": "tides"})
    assert [e["method"] for e in events] == ["lifecycle", "input.requested", "lifecycle"]
    assert root_lifecycle(events) == ["running", "interrupted"]
    request = events[1]["params"]["data"]
    assert request["payload"] == {"question": "publish?", "draft": "a post about tides for anyone"}

    # cancel: failed, "run cancelled"; the run ends interrupted
    thread_id = str(uuid.uuid4())
    run_id = start(web.url, thread_id, "sleeper", {"seconds": 60})
    seen: list[dict[str, Any]] = []
    reader = threading.Thread(
        target=sse_events,
        args=(web.url, thread_id, lifecycle, lambda evs: is_root_end(evs[-1]), seen),
    )
    reader.start()
    wait_for(lambda: root_lifecycle(seen) == ["running"], timeout=30, what="the run to start")
    cancelled = httpx.post(f"{web.url}/threads/{thread_id}/runs/{run_id}/cancel", timeout=30)
    assert cancelled.status_code in (200, 202, 204), cancelled.text
    reader.join(timeout=DEADLINE_SECONDS)
    assert not reader.is_alive()
    assert root_lifecycle(seen) == ["running", "failed"]
    assert seen[-1]["params"]["data"]["error"] == "run cancelled"
    run = httpx.get(f"{web.url}/threads/{thread_id}/runs/{run_id}", timeout=30).json()
    assert run["status"] == "interrupted"


def test_two_runs_on_one_thread_stream_in_order_on_one_subscription(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    thread_id = str(uuid.uuid4())
    first = start(web.url, thread_id, "ticker", {"count": 3, "interval": 0.1})
    second = start(web.url, thread_id, "ticker", {"count": 2})  # enqueued behind the first
    events = sse_events(
        web.url,
        thread_id,
        {"channels": ["lifecycle", "custom", "values"], "since": 0},
        lambda evs: root_lifecycle(evs).count("completed") == 2,
    )
    assert_seqs_increase(events)
    assert events[0]["seq"] == 1
    assert root_lifecycle(events) == ["running", "completed", "running", "completed"]
    assert ticks(events) == [0, 1, 2, 0, 1]
    ends = [i for i, e in enumerate(events) if is_root_end(e)]
    assert [v["params"]["data"]["ticks"] for v in events[: ends[0]] if v["method"] == "values"][
        -1
    ] == [0, 1, 2]
    assert [v["params"]["data"]["ticks"] for v in events[ends[0] :] if v["method"] == "values"][
        -1
    ] == [0, 1, 2, 0, 1]
    assert first != second


# --- any web instance, failover -----------------------------------------------------------------


def test_an_sse_subscription_resumes_on_another_instance_with_nothing_lost(stack: Stack) -> None:
    web1, web2, web3 = stack.web(), stack.web(), stack.web()
    stack.worker()
    thread_id = str(uuid.uuid4())
    subscription = {"channels": ["custom", "lifecycle"]}
    first: list[dict[str, Any]] = []
    reader = threading.Thread(
        target=sse_events, args=(web1.url, thread_id, subscription, lambda evs: False, first)
    )
    reader.start()
    start(web2.url, thread_id, "ticker", {"count": 20, "interval": 0.15})  # on another instance
    wait_for(lambda: len(ticks(first)) >= 5, timeout=30, what="five events on web 1")
    web1.signal(signal.SIGKILL, group=True)  # the subscriber's instance dies mid-run
    web1.wait(timeout=30)
    reader.join(timeout=30)
    assert not reader.is_alive()
    rest = sse_events(
        web3.url,
        thread_id,
        {**subscription, "since": first[-1]["seq"]},
        lambda evs: is_root_end(evs[-1]),
    )
    events = first + rest
    assert_seqs_increase(events)
    assert ticks(events) == list(range(20))
    assert root_lifecycle(events) == ["running", "completed"]


def test_a_websocket_subscription_resumes_on_another_instance(stack: Stack) -> None:
    web1, web2, web3 = stack.web(), stack.web(), stack.web()
    stack.worker()
    thread_id = str(uuid.uuid4())
    channels = ["custom", "lifecycle"]

    def ws_url(web: Any) -> str:
        return web.url.replace("http://", "ws://") + f"/threads/{thread_id}/stream/events"

    def subscribe(ws: Any, params: dict[str, Any]) -> None:
        ws.send(json.dumps({"id": 1, "method": "subscription.subscribe", "params": params}))
        answer = json.loads(ws.recv(timeout=30))
        assert answer["type"] == "success" and answer["result"]["subscription_id"]

    first: list[dict[str, Any]] = []
    with ws_connect(ws_url(web1)) as ws:
        subscribe(ws, {"channels": channels})
        # the command goes over this socket, the run executes on a worker
        ws.send(
            json.dumps(
                {
                    "id": 2,
                    "method": "run.start",
                    "params": {"assistant_id": "ticker", "input": {"count": 20, "interval": 0.15}},
                }
            )
        )
        started = json.loads(ws.recv(timeout=30))
        assert started["type"] == "success" and started["id"] == 2
        kill_after_five_ticks(ws, web1, first)
    rest: list[dict[str, Any]] = []
    with ws_connect(ws_url(web3)) as ws:
        subscribe(ws, {"channels": channels, "since": first[-1]["seq"]})
        while not rest or not is_root_end(rest[-1]):
            rest.append(json.loads(ws.recv(timeout=30)))
    events = first + rest
    assert_seqs_increase(events)
    assert ticks(events) == list(range(20))
    assert root_lifecycle(events) == ["running", "completed"]
    assert web2.alive  # untouched


# --- filters and refusals -----------------------------------------------------------------------


def test_subscriptions_are_filtered_by_channel_and_namespace(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    thread_id = str(uuid.uuid4())
    start(web.url, thread_id, "nested", {"value": 1})
    everything = sse_events(
        web.url,
        thread_id,
        {"channels": ["lifecycle", "values", "custom"], "since": 0},
        lambda evs: is_root_end(evs[-1]),
    )
    child = next(e["params"]["namespace"] for e in everything if e["params"]["namespace"])
    assert len(child) == 1 and ":" in child[0]  # "<node>:<task id>"
    only_custom = sse_events(
        web.url,
        thread_id,
        {"channels": ["custom"], "since": 0},
        lambda evs: len(evs) == 1,
    )
    assert [e["params"]["data"] for e in only_custom] == [{"doubled": 4}]
    in_child = sse_events(
        web.url,
        thread_id,
        {"channels": ["values", "lifecycle"], "namespaces": [child], "since": 0},
        lambda evs: (
            evs[-1]["method"] == "lifecycle" and evs[-1]["params"]["data"]["event"] == "completed"
        ),
    )
    assert {tuple(e["params"]["namespace"]) for e in in_child} == {tuple(child)}
    assert [e["params"]["data"] for e in in_child if e["method"] == "values"][-1] == {"value": 4}


def test_commands_and_subscriptions_refuse_bad_input(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    thread_id = str(uuid.uuid4())
    url = f"{web.url}/threads/{thread_id}"
    malformed = httpx.post(f"{url}/commands", json={"method": "run.start"}, timeout=30)
    assert malformed.status_code == 400
    assert malformed.json()["error"] == "invalid_argument"
    assert command(web.url, thread_id, "state.get", {})["error"] == "unknown_command"
    assert command(web.url, thread_id, "run.start", {})["error"] == "invalid_argument"
    unknown = command(web.url, thread_id, "run.start", {"assistant_id": "nope", "input": {}})
    assert unknown["type"] == "error" and "nope" in unknown["message"]
    answer = command(
        web.url, thread_id, "input.respond", {"namespace": [], "interrupt_id": "x", "response": 1}
    )
    assert answer["error"] == "no_such_run"
    start(web.url, thread_id, "review", {"topic": "tides"})
    sse_events(
        web.url,
        thread_id,
        {"channels": ["lifecycle"], "since": 0},
        lambda evs: is_root_end(evs[-1]),
    )
    answer = command(
        web.url, thread_id, "input.respond", {"namespace": [], "interrupt_id": "x", "response": 1}
    )
    assert answer["error"] == "no_such_interrupt"
    bad_channel = httpx.post(f"{url}/stream/events", json={"channels": ["debug"]}, timeout=30)
    assert bad_channel.status_code == 400 and "debug" in bad_channel.json()["detail"]
    no_channels = httpx.post(f"{url}/stream/events", json={"channels": []}, timeout=30)
    assert no_channels.status_code == 400


# --- released SDKs' fields, graph factories -----------------------------------------------------


def test_runs_wait_accepts_what_released_sdks_send_and_factories_get_a_runtime(
    stack: Stack,
) -> None:
    web = stack.web()
    stack.worker()
    thread_id = httpx.post(f"{web.url}/threads", json={}, timeout=30).json()["thread_id"]
    # the body of langgraph-sdk 0.4.0's (to 0.4.9's) sync runs.wait, None values dropped
    sdk_040_body = {
        "input": {"count": 1},
        "assistant_id": "ticker",
        "multitask_strategy": "enqueue",
        "raise_error": True,
        "on_disconnect": "continue",
    }
    answer = httpx.post(f"{web.url}/threads/{thread_id}/runs/wait", json=sdk_040_body, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["ticks"] == [0]
    unknown = httpx.post(
        f"{web.url}/threads/{thread_id}/runs/wait",
        json={**sdk_040_body, "raise_errors": True},
        timeout=30,
    )
    assert unknown.status_code == 422 and "raise_errors" in unknown.text
    # the newest SDK (installed: 0.4.14) through its own client; and a (config, runtime) factory
    with get_sync_client(url=web.url) as client:
        output = client.runs.wait(thread_id, "runtime_factory", input={}, context={"user": "ada"})
    assert output == {
        "access_context": "threads.create_run",
        "is_for_execution": True,
        "store_is_base_store": True,
        "context": {"user": "ada"},
    }
