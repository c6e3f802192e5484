"""``subscription.reconnect`` of the thread-streaming protocol over WebSocket
(``app/api/thread_subscriptions.py``), on real web and worker processes:

- ``langchain_protocol``'s form (``run_id``, ``last_event_id``, ``subscriptions``): a
  subscription made on one instance, that instance killed mid-run, the subscription restored on
  another by its id after the last event seen: ``restored`` true, and the run's events arrive
  with nothing lost or repeated;
- the official server's form (``channels``, ``since``, ``subscription_id``): the events after
  ``since`` are replayed at once (the run has ended), counted in ``replayed_events``, the id is
  kept; a ``since`` older than what is kept is the ``resume_gap`` error;
- what cannot be restored says so: an unknown subscription or run gives ``restored`` false;
- a subscription added on a connection after events went by gets the ones it missed.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import redis
from websockets.sync.client import connect as ws_connect

from app import protocol_stream
from tests.acceptance.test_thread_protocol import (
    assert_seqs_increase,
    is_root_end,
    kill_after_five_ticks,
    ticks,
)
from tests.support import Stack

pytestmark = pytest.mark.timeout(240)
CHANNELS = ["custom", "lifecycle"]


def ws_url(web: Any, thread_id: str) -> str:
    return web.url.replace("http://", "ws://") + f"/threads/{thread_id}/stream/events"


def send(ws: Any, command_id: int, method: str, params: dict[str, Any]) -> None:
    ws.send(json.dumps({"id": command_id, "method": method, "params": params}))


def until_answer(ws: Any, command_id: int, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Read until the answer to ``command_id``; the events before it go to ``events``."""
    while True:
        message = json.loads(ws.recv(timeout=30))
        if message.get("type") == "event":
            events.append(message)
        elif message.get("id") == command_id:
            return message


def until_root_end(ws: Any, events: list[dict[str, Any]]) -> None:
    while not events or not is_root_end(events[-1]):
        events.append(json.loads(ws.recv(timeout=30)))


def test_a_subscription_is_restored_by_id_on_another_instance(stack: Stack) -> None:
    web1, web2 = stack.web(), stack.web()
    stack.worker()
    thread_id = str(uuid.uuid4())
    first: list[dict[str, Any]] = []
    with ws_connect(ws_url(web1, thread_id)) as ws:
        send(ws, 1, "subscription.subscribe", {"channels": CHANNELS})
        subscription_id = until_answer(ws, 1, first)["result"]["subscription_id"]
        params = {"assistant_id": "ticker", "input": {"count": 20, "interval": 0.15}}
        send(ws, 2, "run.start", params)
        run_id = until_answer(ws, 2, first)["result"]["run_id"]
        kill_after_five_ticks(ws, web1, first)
    rest: list[dict[str, Any]] = []
    with ws_connect(ws_url(web2, thread_id)) as ws:
        reconnect = {
            "run_id": run_id,
            "last_event_id": first[-1]["event_id"],
            "subscriptions": [subscription_id],
        }
        send(ws, 3, "subscription.reconnect", reconnect)
        answer = until_answer(ws, 3, rest)
        assert answer["type"] == "success", answer
        assert answer["result"]["restored"] is True
        until_root_end(ws, rest)
    events = first + rest
    assert_seqs_increase(events)  # nothing twice
    assert ticks(events) == list(range(20))  # nothing lost
    assert answer["result"]["missed_events"] <= len(rest)  # kept when it reconnected

    # what is unknown is not restored
    with ws_connect(ws_url(web2, thread_id)) as ws:
        send(ws, 4, "subscription.reconnect", {"run_id": run_id, "subscriptions": ["nope"]})
        assert until_answer(ws, 4, [])["result"]["restored"] is False
        send(ws, 5, "subscription.reconnect", {"run_id": str(uuid.uuid4())})
        assert until_answer(ws, 5, [])["result"]["restored"] is False


def test_the_official_form_replays_after_since_and_reports_a_gap(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    thread_id = str(uuid.uuid4())
    events: list[dict[str, Any]] = []
    with ws_connect(ws_url(web, thread_id)) as ws:
        send(ws, 1, "subscription.subscribe", {"channels": CHANNELS})
        until_answer(ws, 1, events)
        send(ws, 2, "run.start", {"assistant_id": "ticker", "input": {"count": 6, "interval": 0}})
        until_answer(ws, 2, events)
        until_root_end(ws, events)
    since = events[2]["seq"]
    expected = [e for e in events if e["seq"] > since]
    with ws_connect(ws_url(web, thread_id)) as ws:
        replayed: list[dict[str, Any]] = []
        params = {"channels": CHANNELS, "since": since, "subscription_id": "kept-id"}
        send(ws, 3, "subscription.reconnect", params)
        answer = until_answer(ws, 3, replayed)
        assert answer["type"] == "success", answer
        assert answer["result"] == {"subscription_id": "kept-id", "replayed_events": len(expected)}
        while len(replayed) < len(expected):
            replayed.append(json.loads(ws.recv(timeout=30)))
        assert [e["seq"] for e in replayed] == [e["seq"] for e in expected]

        # a subscription added after events went by on this connection gets them too
        later: list[dict[str, Any]] = []
        send(ws, 4, "subscription.subscribe", {"channels": ["custom"], "since": 0})
        answer = until_answer(ws, 4, later)
        assert ticks(later) == list(range(6))
        assert answer["result"]["replayed_events"] == 6

        send(ws, 5, "subscription.reconnect", {"channels": CHANNELS})
        assert until_answer(ws, 5, [])["error"] == "invalid_argument"  # since is required

    # the oldest events trimmed: a since before them is a resume_gap
    client = redis.Redis.from_url(stack.settings.redis_url)
    client.xtrim(protocol_stream.stream_key(thread_id), maxlen=2, approximate=False)
    with ws_connect(ws_url(web, thread_id)) as ws:
        send(ws, 6, "subscription.reconnect", {"channels": CHANNELS, "since": 1})
        gap = until_answer(ws, 6, [])
        assert gap["type"] == "error" and gap["error"] == "resume_gap", gap
        oldest = protocol_stream.first_seq(client, thread_id)
        assert oldest is not None and oldest > 2
        assert gap["since"] == 1 and gap["min_available_seq"] == oldest
