"""Streaming and wait, end to end: real ``web`` (gunicorn) and ``worker`` processes, driven with the
official ``langgraph_sdk`` clients (sync and async) as a user would drive them.

The expected event sequences are those the official server sends for the same graphs (checked
against it: ``tests/graphs/streaming.py`` and ``examples/``); they are written out here, not
computed by the code under test. What is proved:

- each stream mode's events, in order, with their content (values, updates, custom, tasks,
  checkpoints, debug, messages, messages-tuple, events, subgraphs); every event has an id;
- a failing run ends its stream with an ``error`` event; ``wait`` answers 200 with
  ``{"__error__": …}`` (and the SDK raises), ``Location`` pointing at the join URL, with
  newline heartbeats while it waits;
- joining a running run gives the events from then on; resuming after ``Last-Event-ID`` loses
  and repeats nothing, also on another web instance, when the instance serving the stream dies
  mid-stream (the SDK reconnects through a load balancer to a third one), and when it is told
  to stop (it ends its streams at once and exits; the SDK resumes elsewhere);
- a client that goes away (stream, join or wait) cancels the run only if it asked to;
- the thread stream carries every run of the thread, each closed by a ``run_done``, and the
  state updates made outside runs (``state_update``).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Iterable
from contextlib import aclosing
from typing import Any

import httpx
import pytest
import redis
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.schema import StreamPart

from app.config import Settings
from tests.support import Proc, Stack, wait_for

pytestmark = pytest.mark.timeout(240)


# --- helpers ------------------------------------------------------------------------------------


def _pairs(parts: Iterable[StreamPart]) -> list[tuple[str, Any]]:
    return [(p.event, p.data) for p in parts]


def _id_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


def _assert_ids_increase(parts: list[StreamPart]) -> None:
    """Every event has an ``id:``, strictly increasing (no event twice)."""
    ids = [p.id for p in parts]
    assert all(ids), ids
    keys = [_id_key(i) for i in ids if i]
    assert keys == sorted(set(keys)), ids


def _status(client: Any, thread_id: str, run_id: str) -> str:
    return client.runs.get(thread_id, run_id)["status"]


def _ticker_events(count: int, interval: float, run_id: str) -> list[tuple[str, Any]]:
    """What ``ticker`` streams with ``stream_mode=["custom", "values"]`` on a fresh thread."""
    return [
        ("metadata", {"run_id": run_id, "attempt": 1}),
        ("values", {"count": count, "interval": interval, "ticks": []}),
        *[("custom", {"i": i}) for i in range(count)],
        ("values", _ticker_values(count, interval)),
    ]


def _ticker_input(count: int, interval: float) -> dict[str, Any]:
    return {"count": count, "interval": interval}


def _ticker_values(count: int, interval: float) -> dict[str, Any]:
    return {"count": count, "interval": interval, "ticks": list(range(count))}


class Balancer:
    """A TCP load balancer on 127.0.0.1: each new connection goes to the first backend that
    accepts it (the order given), as a health-checking proxy in front of web instances would.
    Bytes are copied both ways; when either side closes, both are closed."""

    def __init__(self, backends: list[Proc]) -> None:
        self.backends = backends
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.routed: list[int] = []  # the port of the backend each connection went to
        self._sockets: list[socket.socket] = []
        self._stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = self._connect()
            if upstream is None:
                client.close()
                continue
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _connect(self) -> socket.socket | None:
        for proc in self.backends:
            if proc.popen.poll() is not None:
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", proc.port), timeout=5)
            except OSError:
                continue
            upstream.settimeout(None)
            self.routed.append(proc.port or 0)
            return upstream
        return None

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._stopping = True
        self.listener.close()
        for s in self._sockets:
            s.close()


# --- stream modes -------------------------------------------------------------------------------


def test_stream_modes_with_the_sync_client(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    with get_sync_client(url=web.url) as client:
        thread_id = client.threads.create()["thread_id"]

        # values + updates: the state after each step, and what each node returned
        parts = list(
            client.runs.stream(
                thread_id,
                "accumulate",
                input={"numbers": [1, 2]},
                stream_mode=["values", "updates"],
            )
        )
        _assert_ids_increase(parts)
        run_id = parts[0].data["run_id"]
        assert _pairs(parts) == [
            ("metadata", {"run_id": run_id, "attempt": 1}),
            ("values", {"numbers": [1, 2], "runs": 0}),
            ("updates", {"validate": {"runs": 1}}),
            ("values", {"numbers": [1, 2], "runs": 1}),
            ("updates", {"summarize": {"total": 3, "count": 2, "mean": 1.5}}),
            ("values", {"numbers": [1, 2], "total": 3, "count": 2, "mean": 1.5, "runs": 1}),
        ]
        # the stream closed when the run was over (no "end" event, as the official server)
        assert _status(client, thread_id, run_id) == "success"

        # default mode is values
        parts = list(client.runs.stream(thread_id, "accumulate", input={"numbers": [3]}))
        assert [p.event for p in parts] == ["metadata", "values", "values", "values"]
        assert parts[-1].data["total"] == 6 and parts[-1].data["runs"] == 2

        # custom: what the node wrote with get_stream_writer(), and nothing else
        parts = list(
            client.runs.stream(thread_id, "ticker", input={"count": 3}, stream_mode="custom")
        )
        assert _pairs(parts)[1:] == [
            ("custom", {"i": 0}),
            ("custom", {"i": 1}),
            ("custom", {"i": 2}),
        ]

        # tasks: the start and the result of each task
        parts = list(
            client.runs.stream(
                None, "ticker", input={"count": 2}, stream_mode="tasks", on_completion="keep"
            )
        )
        assert [p.event for p in parts] == ["metadata", "tasks", "tasks"]
        start, result = parts[1].data, parts[2].data
        assert start["name"] == "tick" and start["input"] == {"count": 2, "ticks": []}
        assert result == {
            "id": start["id"],
            "name": "tick",
            "error": None,
            "result": {"ticks": [0, 1]},
            "interrupts": [],
        }

        # checkpoints: each checkpoint saved, the last one with the final values
        fresh = client.threads.create()["thread_id"]
        parts = list(
            client.runs.stream(fresh, "ticker", input={"count": 1}, stream_mode="checkpoints")
        )
        checkpoints = [p.data for p in parts[1:]]
        assert [p.event for p in parts[1:]] == ["checkpoints"] * 3
        assert [c["metadata"]["source"] for c in checkpoints] == ["input", "loop", "loop"]
        assert checkpoints[-1]["values"] == {"count": 1, "ticks": [0]}
        assert checkpoints[-1]["next"] == []
        assert {c["config"]["configurable"]["thread_id"] for c in checkpoints} == {fresh}

        # debug: checkpoints and tasks, checkpoints with the API's checkpoint objects
        parts = list(client.runs.stream(fresh, "ticker", input={"count": 1}, stream_mode="debug"))
        debug = [p.data for p in parts[1:]]
        assert [d["type"] for d in debug] == [
            "checkpoint",
            "checkpoint",
            "task",
            "task_result",
            "checkpoint",
        ]
        last = debug[-1]["payload"]
        assert last["checkpoint"] == {
            "checkpoint_id": last["config"]["configurable"]["checkpoint_id"],
            "thread_id": fresh,
            "checkpoint_ns": "",
        }
        assert (
            last["parent_checkpoint"]["checkpoint_id"]
            == (last["parent_config"]["configurable"]["checkpoint_id"])
        )
        assert last["values"] == {"count": 1, "ticks": [0, 0]}  # the thread's second run

        # a stateless run: streamed, then its thread is gone and the stream still ends cleanly
        parts = list(client.runs.stream(None, "sleeper", input={"seconds": 0.1}))
        assert _pairs(parts)[1:] == [("values", {"slept": 0.1})]


def test_stream_modes_with_the_async_client(stack: Stack) -> None:
    web = stack.web()
    stack.worker()

    async def collect(client: Any, *args: Any, **kwargs: Any) -> list[StreamPart]:
        return [part async for part in client.runs.stream(*args, **kwargs)]

    async def scenario() -> None:
        async with get_client(url=web.url) as client:
            thread_id = (await client.threads.create())["thread_id"]

            # a subgraph's events carry its namespace with stream_subgraphs
            parts = await collect(
                client,
                thread_id,
                "nested",
                input={"value": 1},
                stream_mode=["values", "updates", "custom"],
                stream_subgraphs=True,
            )
            namespaces = {p.event.split("|", 1)[1] for p in parts if "|" in p.event}
            assert len(namespaces) == 1 and namespaces.pop().startswith("child:")
            assert [
                (p.event.split("|")[0] + ("|ns" if "|" in p.event else ""), p.data) for p in parts
            ][1:] == [
                ("values", {"value": 1, "trail": []}),
                ("updates", {"prepare": {"value": 2, "trail": ["prepare"]}}),
                ("values", {"value": 2, "trail": ["prepare"]}),
                ("values|ns", {"value": 2}),
                ("custom|ns", {"doubled": 4}),
                ("updates|ns", {"double": {"value": 4}}),
                ("values|ns", {"value": 4}),
                ("updates", {"child": {"value": 4}}),
                ("values", {"value": 4, "trail": ["prepare"]}),
                ("updates", {"finish": {"value": 5, "trail": ["finish"]}}),
                ("values", {"value": 5, "trail": ["prepare", "finish"]}),
            ]
            # without it, only the parent's events (the subgraph's custom event is not sent)
            parts = await collect(
                client, None, "nested", input={"value": 1}, stream_mode=["values", "custom"]
            )
            assert _pairs(parts)[1:] == [
                ("values", {"value": 1, "trail": []}),
                ("values", {"value": 2, "trail": ["prepare"]}),
                ("values", {"value": 4, "trail": ["prepare"]}),
                ("values", {"value": 5, "trail": ["prepare", "finish"]}),
            ]

            chat_input = {"messages": [{"role": "user", "content": "hi there"}]}
            reply = "you said: hi there"

            # messages-tuple: every token as [message chunk, metadata]
            parts = await collect(
                client, None, "chat", input=chat_input, stream_mode="messages-tuple"
            )
            tokens = parts[1:]
            assert {p.event for p in tokens} == {"messages"} and len(tokens) > 3
            assert "".join(p.data[0]["content"] for p in tokens) == reply
            assert {p.data[0]["type"] for p in tokens} == {"AIMessageChunk"}
            assert len({p.data[0]["id"] for p in tokens}) == 1
            assert {p.data[1]["langgraph_node"] for p in tokens} == {"respond"}

            # messages: the metadata once, then the message accumulated so far
            parts = await collect(client, None, "chat", input=chat_input, stream_mode="messages")
            assert parts[1].event == "messages/metadata"
            (message_id, meta), *_ = parts[1].data.items()
            assert meta["metadata"]["langgraph_node"] == "respond"
            partials = parts[2:]
            assert {p.event for p in partials} == {"messages/partial"}
            contents = [p.data[0]["content"] for p in partials]
            assert contents[-1] == reply
            assert all(reply.startswith(c) for c in contents)
            assert contents == sorted(contents, key=len) and len(set(contents)) == len(contents)
            assert {(p.data[0]["id"], p.data[0]["type"]) for p in partials} == {(message_id, "ai")}

            # asked both: the tuple form wins (as the official server does)
            parts = await collect(
                client, None, "chat", input=chat_input, stream_mode=["messages", "messages-tuple"]
            )
            assert {p.event for p in parts[1:]} == {"messages"}

            # events: LangChain's astream_events v2, the root named after the graph; the root's
            # own on_chain_stream (it carries the other modes) is not an event
            parts = await collect(
                client, None, "sleeper", input={"seconds": 0.1}, stream_mode="events"
            )
            events = [p.data for p in parts[1:]]
            assert {p.event for p in parts[1:]} == {"events"}
            assert (events[0]["event"], events[0]["name"], events[0]["parent_ids"]) == (
                "on_chain_start",
                "sleeper",
                [],
            )
            assert events[-1]["event"] == "on_chain_end"
            assert events[-1]["data"]["output"] == {"slept": 0.1}
            assert not [
                e for e in events if e["event"] == "on_chain_stream" and not e["parent_ids"]
            ]
            assert [e["event"] for e in events] == [
                "on_chain_start",
                "on_chain_start",
                "on_chain_stream",
                "on_chain_end",
                "on_chain_end",
            ]

    asyncio.run(scenario())


# --- errors and wait ----------------------------------------------------------------------------


def test_a_failing_run_ends_its_stream_with_an_error_event(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    with get_sync_client(url=web.url) as client:
        thread_id = client.threads.create()["thread_id"]
        parts = list(
            client.runs.stream(
                thread_id,
                "ticker",
                input={"count": 2, "fail": "boom"},
                stream_mode=["custom", "values"],
            )
        )
        run_id = parts[0].data["run_id"]
        assert _pairs(parts) == [
            ("metadata", {"run_id": run_id, "attempt": 1}),
            ("values", {"count": 2, "fail": "boom", "ticks": []}),
            ("custom", {"i": 0}),
            ("custom", {"i": 1}),
            ("error", {"error": "RuntimeError", "message": "boom"}),
        ]
        assert _status(client, thread_id, run_id) == "error"

    async def stateless() -> list[tuple[str, Any]]:
        async with get_client(url=web.url) as aclient:
            parts = [
                p
                async for p in aclient.runs.stream(None, "accumulate", input={"numbers": [1, "x"]})
            ]
            return _pairs(parts)[1:]

    assert asyncio.run(stateless()) == [
        ("values", {"numbers": [1, "x"], "runs": 0}),
        ("error", {"error": "TypeError", "message": "not a number: 'x'"}),
    ]


def test_wait_answers_the_output_or_the_error(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    with get_sync_client(url=web.url) as client:
        thread_id = client.threads.create()["thread_id"]
        assert client.runs.wait(thread_id, "accumulate", input={"numbers": [1, 2]}) == {
            "numbers": [1, 2],
            "total": 3,
            "count": 2,
            "mean": 1.5,
            "runs": 1,
        }
        assert client.threads.get(thread_id)["values"]["total"] == 3
        assert client.runs.wait(None, "sleeper", input={"seconds": 0.1}) == {"slept": 0.1}

        # a failing run: 200 with {"__error__": …} (the official server's answer), the SDK raises
        with pytest.raises(Exception, match=r"^TypeError: not a number: 'x'$"):
            client.runs.wait(thread_id, "accumulate", input={"numbers": ["x"]})
        assert client.runs.wait(
            None, "accumulate", input={"numbers": ["x"]}, raise_error=False
        ) == {"__error__": {"error": "TypeError", "message": "not a number: 'x'"}}
        runs = client.runs.list(thread_id)
        assert [r["status"] for r in runs][:1] == ["error"]

    with httpx.Client(base_url=web.url, timeout=60) as http:
        thread_id = http.post("/threads", json={}).json()["thread_id"]
        answer = http.post(
            f"/threads/{thread_id}/runs/wait",
            json={"assistant_id": "accumulate", "input": {"numbers": ["x"]}},
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == {
            "__error__": {"error": "TypeError", "message": "not a number: 'x'"}
        }
        run_path = answer.headers["content-location"]
        assert run_path.startswith(f"/threads/{thread_id}/runs/")
        # Location is where a client whose answer was cut off gets it again
        assert answer.headers["location"] == f"{run_path}/join"
        assert http.get(answer.headers["location"]).json() == answer.json()

        # a long wait sends newlines meanwhile (proxies see a live connection), then the JSON
        answer = http.post(
            "/runs/wait", json={"assistant_id": "sleeper", "input": {"seconds": 5.5}}
        )
        assert answer.status_code == 200
        assert answer.text.startswith("\n") and answer.text.strip() == '{"slept":5.5}'

        # bad input is refused before any run is created
        refused = http.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "nope"})
        assert refused.status_code == 422
        assert len(http.get(f"/threads/{thread_id}/runs").json()) == 1

    async def with_async_client() -> None:
        async with get_client(url=web.url) as aclient:
            assert await aclient.runs.wait(None, "accumulate", input={"numbers": [4]}) == {
                "numbers": [4],
                "total": 4,
                "count": 1,
                "mean": 4.0,
                "runs": 1,
            }
            with pytest.raises(Exception, match="^RuntimeError: late$"):
                await aclient.runs.wait(None, "ticker", input={"count": 1, "fail": "late"})

    asyncio.run(with_async_client())


# --- join, resume, several web instances --------------------------------------------------------


def test_join_a_running_run_and_resume_after_last_event_id(stack: Stack) -> None:
    web = stack.web()
    stack.worker()

    async def scenario() -> None:
        async with get_client(url=web.url) as client:
            thread_id = (await client.threads.create())["thread_id"]
            modes = ["custom", "values"]

            # join a running run: the events from then on, to the end
            run = await client.runs.create(
                thread_id, "ticker", input=_ticker_input(10, 0.3), stream_mode=modes
            )
            run_id = run["run_id"]
            everything = _ticker_events(10, 0.3, run_id)
            seen: list[StreamPart] = []

            async def first_event() -> bool:
                stream = client.runs.join_stream(thread_id, run_id, last_event_id="-")
                async with aclosing(stream) as parts:
                    async for part in parts:
                        seen.append(part)
                        return True
                return False

            assert await first_event()  # the run has begun streaming
            joined = [p async for p in client.runs.join_stream(thread_id, run_id)]
            _assert_ids_increase(joined)
            tail = _pairs(joined)
            assert 0 < len(tail) < len(everything)
            assert tail == everything[-len(tail) :]
            assert (await client.runs.get(thread_id, run_id))["status"] == "success"

            # after the end: joining without Last-Event-ID gives nothing (the official server's
            # behaviour); with "-" (or "0") it replays everything
            assert [p async for p in client.runs.join_stream(thread_id, run_id)] == []
            replay = [
                p async for p in client.runs.join_stream(thread_id, run_id, last_event_id="0")
            ]
            assert _pairs(replay) == everything
            assert replay[0].id == seen[0].id

            # resume: read part of a stream, drop it, come back with the last id seen
            thread_id = (await client.threads.create())["thread_id"]
            first: list[StreamPart] = []
            stream = client.runs.stream(
                thread_id, "ticker", input=_ticker_input(8, 0.2), stream_mode=modes
            )
            async with aclosing(stream) as parts:
                async for part in parts:
                    first.append(part)
                    if len(first) == 4:
                        break
            run_id = first[0].data["run_id"]
            rest = [
                p
                async for p in client.runs.join_stream(
                    thread_id, run_id, last_event_id=first[-1].id
                )
            ]
            _assert_ids_increase(first + rest)
            assert _pairs(first + rest) == _ticker_events(8, 0.2, run_id)

            # a join may narrow the modes; metadata always passes
            only_values = [
                p
                async for p in client.runs.join_stream(
                    thread_id, run_id, last_event_id="-", stream_mode="values"
                )
            ]
            assert [p.event for p in only_values] == ["metadata", "values", "values"]

            # a malformed Last-Event-ID is a 422, an unknown run a 404
            async with httpx.AsyncClient(base_url=web.url) as http:
                bad = await http.get(
                    f"/threads/{thread_id}/runs/{run_id}/stream",
                    headers={"Last-Event-ID": "yesterday"},
                )
                assert bad.status_code == 422
                assert "last-event-id" in bad.json()["detail"].lower()
                missing = await http.get(
                    f"/threads/{thread_id}/runs/00000000-0000-0000-0000-000000000000/stream"
                )
                assert missing.status_code == 404

    asyncio.run(scenario())


def test_a_stream_served_by_other_web_instances_loses_and_repeats_nothing(stack: Stack) -> None:
    """The run is created on web 1; its stream is served by web 2 through a load balancer; web 2
    is killed mid-stream and the SDK reconnects (``Location`` + ``Last-Event-ID``) through the
    balancer to web 3. Then web 3 is stopped (SIGTERM) mid-stream: it ends its streams and
    exits at once, and the SDK resumes on web 1."""
    web1, web2, web3 = stack.web(), stack.web(), stack.web()
    stack.worker()
    balancer = Balancer([web2, web3])
    balancers = [balancer]
    try:
        with get_sync_client(url=web1.url) as client1, get_sync_client(url=balancer.url) as client:
            thread_id = client1.threads.create()["thread_id"]
            run = client1.runs.create(
                thread_id,
                "ticker",
                input=_ticker_input(16, 0.25),
                stream_mode=["custom", "values"],
            )
            everything = _ticker_events(16, 0.25, run["run_id"])
            parts: list[StreamPart] = []
            for part in client.runs.join_stream(thread_id, run["run_id"], last_event_id="-"):
                parts.append(part)
                if len(parts) == 5:
                    web2.signal(signal.SIGKILL, group=True)  # the instance dies mid-stream
                    web2.wait(timeout=30)
            _assert_ids_increase(parts)
            assert _pairs(parts) == everything
            assert [port for port in balancer.routed if port != web3.port] == [web2.port]
            assert web3.port in balancer.routed  # the reconnect went to the third instance

            # without a balancer: started on web 1, resumed on web 3 by hand
            thread_id = client1.threads.create()["thread_id"]
            first: list[StreamPart] = []
            for part in client1.runs.stream(
                thread_id,
                "ticker",
                input=_ticker_input(6, 0.2),
                stream_mode=["custom", "values"],
            ):
                first.append(part)
                if len(first) == 3:
                    break
            run_id = first[0].data["run_id"]
            with get_sync_client(url=web3.url) as client3:
                rest = list(client3.runs.join_stream(thread_id, run_id, last_event_id=first[-1].id))
            assert _pairs(first + rest) == _ticker_events(6, 0.2, run_id)

            # a web instance told to stop (SIGTERM) ends its open streams at once, cleanly: the
            # SDK sees the run still running and resumes through the balancer on web 1
            second = Balancer([web3, web1])
            balancers.append(second)
            thread_id = client1.threads.create()["thread_id"]
            run_id = client1.runs.create(
                thread_id,
                "ticker",
                input=_ticker_input(30, 0.2),
                stream_mode=["custom", "values"],
            )["run_id"]
            parts = []
            with get_sync_client(url=second.url) as client:
                for part in client.runs.join_stream(thread_id, run_id, last_event_id="-"):
                    parts.append(part)
                    if len(parts) == 4:
                        web3.signal(signal.SIGTERM)
                        assert web3.wait(timeout=30) == 0
                        # it did not wait for the run to end: the run still runs
                        assert client1.runs.get(thread_id, run_id)["status"] == "running"
            _assert_ids_increase(parts)
            assert _pairs(parts) == _ticker_events(30, 0.2, run_id)
            assert second.routed[0] == web3.port and web1.port in second.routed
    finally:
        for each in balancers:
            each.close()


# --- disconnects --------------------------------------------------------------------------------


def test_a_client_that_goes_away_cancels_the_run_only_if_it_asked(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    with get_sync_client(url=web.url) as client:

        def stream_then_leave(thread_id: str, after: int, **kwargs: Any) -> str:
            run_id = ""
            parts = client.runs.stream(thread_id, "ticker", stream_mode="custom", **kwargs)
            for n, part in enumerate(parts, start=1):
                run_id = run_id or part.data["run_id"]
                if n == after:
                    break
            parts.close()  # closes the HTTP response: the client is gone
            return run_id

        # on_disconnect="cancel": the run is interrupted soon after the client left
        cancelled_thread = client.threads.create()["thread_id"]
        run_id = stream_then_leave(
            cancelled_thread, 3, input=_ticker_input(300, 0.1), on_disconnect="cancel"
        )
        wait_for(
            lambda: _status(client, cancelled_thread, run_id) == "interrupted",
            timeout=60,
            what="run cancelled on disconnect",
        )

        # default (continue): the run finishes without anyone listening
        kept_thread = client.threads.create()["thread_id"]
        run_id = stream_then_leave(kept_thread, 2, input=_ticker_input(8, 0.25))
        assert _status(client, kept_thread, run_id) in ("pending", "running")
        assert client.runs.join(kept_thread, run_id) == _ticker_values(8, 0.25)
        assert _status(client, kept_thread, run_id) == "success"

        # join_stream(cancel_on_disconnect=True) does the same for a joined run
        run = client.runs.create(kept_thread, "ticker", input=_ticker_input(300, 0.1))
        joined = client.runs.join_stream(
            kept_thread, run["run_id"], cancel_on_disconnect=True, last_event_id="-"
        )
        next(joined)
        joined.close()
        wait_for(
            lambda: _status(client, kept_thread, run["run_id"]) == "interrupted",
            timeout=60,
            what="joined run cancelled on disconnect",
        )

    # wait with on_disconnect="cancel": a client that gives up waiting cancels the run; one
    # that did not ask leaves it running
    with httpx.Client(base_url=web.url, timeout=1.5) as http:
        thread_id = http.post("/threads", json={}).json()["thread_id"]
        for on_disconnect, final in (("cancel", "interrupted"), ("continue", "success")):
            body = {
                "assistant_id": "ticker",
                "input": _ticker_input(12, 0.25),
                "on_disconnect": on_disconnect,
            }
            with pytest.raises(httpx.ReadTimeout):
                http.post(f"/threads/{thread_id}/runs/wait", json=body)
            (latest, *_) = http.get(f"/threads/{thread_id}/runs").json()
            path = f"/threads/{thread_id}/runs/{latest['run_id']}"
            wait_for(
                lambda path=path, final=final: http.get(path).json()["status"] == final,
                timeout=60,
                what=f"wait with on_disconnect={on_disconnect} ends {final}",
            )


# --- the thread stream --------------------------------------------------------------------------


def _xread_blocked(settings: Settings) -> bool:
    """Whether a web process is blocked reading a stream in the tests' Redis DB (a stream
    request has been received and is waiting for events): a connection whose last command is
    ``XREAD`` and which is blocked now (flag ``b``)."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        db = str(client.connection_pool.connection_kwargs.get("db", 0))
        return any(
            c.get("cmd") == "xread" and "b" in c.get("flags", "") and str(c.get("db")) == db
            for c in client.client_list()
        )
    finally:
        client.close()


def _no_stream_open(settings: Settings) -> bool:
    """No stream read blocked, several times over more than one ``XREAD`` wait (1 s): a live
    stream is between two reads only for an instant."""
    for _ in range(4):
        if _xread_blocked(settings):
            return False
        time.sleep(0.4)
    return True


def test_the_thread_stream_carries_every_run_of_the_thread(
    stack: Stack, settings: Settings
) -> None:
    web = stack.web()
    stack.worker()

    async def until_runs_done(parts: Any, runs: int) -> list[StreamPart]:
        seen: list[StreamPart] = []
        async with aclosing(parts) as stream:
            async for part in stream:
                seen.append(part)
                if sum(1 for p in seen if p.data.get("status") == "run_done") == runs:
                    break
        return seen

    async def take(parts: Any, n: int) -> list[StreamPart]:
        seen: list[StreamPart] = []
        async with aclosing(parts) as stream:
            async for part in stream:
                seen.append(part)
                if len(seen) == n:
                    break
        return seen

    def expected(run_id: str, before: list[int], numbers: list[int], runs: int) -> list[Any]:
        everything = before + numbers
        total = sum(everything)
        start = (
            {"numbers": everything, "runs": runs - 1}
            if not before
            else {
                "numbers": everything,
                "total": sum(before),
                "count": len(before),
                "mean": sum(before) / len(before),
                "runs": runs - 1,
            }
        )
        return [
            ("metadata", {"run_id": run_id, "attempt": 1}),
            ("values", start),
            ("values", {**start, "runs": runs}),
            (
                "values",
                {
                    "numbers": everything,
                    "total": total,
                    "count": len(everything),
                    "mean": total / len(everything),
                    "runs": runs,
                },
            ),
            ("metadata", {"status": "run_done", "run_id": run_id}),
        ]

    async def scenario() -> None:
        async with get_client(url=web.url) as client:
            thread_id = (await client.threads.create())["thread_id"]
            first = await client.runs.create(thread_id, "accumulate", input={"numbers": [1]})
            await client.runs.join(thread_id, first["run_id"])

            # joined from now on: the earlier run is not replayed
            listening = asyncio.create_task(
                until_runs_done(await client.threads.join_stream(thread_id), 2)
            )
            await asyncio.to_thread(
                wait_for, lambda: _xread_blocked(settings), 30, 0.05, "thread stream open"
            )
            second = await client.runs.create(thread_id, "accumulate", input={"numbers": [2]})
            third = await client.runs.create(thread_id, "accumulate", input={"numbers": [3]})
            seen = await asyncio.wait_for(listening, timeout=60)
            _assert_ids_increase(seen)
            assert _pairs(seen) == expected(second["run_id"], [1], [2], 2) + expected(
                third["run_id"], [1, 2], [3], 3
            )

            # lifecycle, replayed from the start of the thread's stream: runs starting, ending
            lifecycle = await until_runs_done(
                await client.threads.join_stream(
                    thread_id, stream_mode="lifecycle", last_event_id="-"
                ),
                3,
            )
            assert _pairs(lifecycle) == [
                pair
                for run in (first, second, third)
                for pair in (
                    ("metadata", {"run_id": run["run_id"], "attempt": 1}),
                    ("metadata", {"status": "run_done", "run_id": run["run_id"]}),
                )
            ]

            # resume after an id: what followed it
            resumed = await until_runs_done(
                await client.threads.join_stream(thread_id, last_event_id=seen[4].id), 1
            )
            assert _pairs(resumed) == _pairs(seen[5:])

            # a state update made outside any run: the state_update mode carries it
            await asyncio.to_thread(
                wait_for, lambda: _no_stream_open(settings), 30, 0.05, "old streams closed"
            )
            updates = asyncio.create_task(
                take(await client.threads.join_stream(thread_id, stream_mode="state_update"), 1)
            )
            await asyncio.to_thread(
                wait_for, lambda: _xread_blocked(settings), 30, 0.05, "state stream open"
            )
            await client.threads.update_state(thread_id, {"numbers": [10]})
            (update,) = await asyncio.wait_for(updates, timeout=60)
            assert update.event == "state_update"
            assert update.data["thread_id"] == thread_id
            assert update.data["state"]["values"]["numbers"] == [1, 2, 3, 10]
            assert update.data["state"]["checkpoint"]["thread_id"] == thread_id

    asyncio.run(scenario())
