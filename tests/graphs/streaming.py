"""Test graphs for the stream modes (``tests/acceptance/test_streaming.py``, ``bench/streams.py``).

``ticker``: one node that writes ``{"i": k}`` custom events via ``get_stream_writer()``.
    Input ``{"count": int = 3, "interval": seconds = 0, "fail": str | None, "stamp": bool}``;
    state ``{"count", "interval", "fail", "stamp", "ticks": [k, ...]}``. ``fail`` raises
    ``RuntimeError(fail)`` after the last tick; ``stamp`` adds ``"t"`` (Unix time, seconds) to
    each event, for latency measurements. A long ``count × interval`` makes a long stream.
``nested``: a parent graph whose middle node is a compiled subgraph (for
    ``stream_subgraphs``). Input ``{"value": int}``; ``prepare`` adds 1, the subgraph's
    ``double`` doubles it (and writes a custom event ``{"doubled": value}``), ``finish`` adds 1;
    ``trail`` lists the parent's nodes that ran (the subgraph's state is ``{"value"}`` only).
``chat``: a ``MessagesState`` graph whose node answers with a fake chat model (offline,
    streams its reply word by word): the reply is ``"you said: <last message>"``.
"""

from __future__ import annotations

import asyncio
import operator
import time
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph


class TickerState(TypedDict, total=False):
    count: int
    interval: float
    fail: str | None
    stamp: bool
    ticks: Annotated[list[int], operator.add]


async def tick(state: TickerState) -> dict[str, Any]:
    write = get_stream_writer()
    count = int(state.get("count", 3))
    interval = float(state.get("interval", 0))
    for k in range(count):
        write({"i": k, "t": time.time()} if state.get("stamp") else {"i": k})
        if interval:
            await asyncio.sleep(interval)
    if state.get("fail"):
        raise RuntimeError(state["fail"])
    return {"ticks": list(range(count))}


ticker = StateGraph(TickerState).add_node("tick", tick).add_edge(START, "tick").compile()


class NestedState(TypedDict, total=False):
    value: int
    trail: Annotated[list[str], operator.add]


def prepare(state: NestedState) -> dict[str, Any]:
    return {"value": state["value"] + 1, "trail": ["prepare"]}


class ChildState(TypedDict):
    value: int


def double(state: ChildState) -> dict[str, Any]:
    get_stream_writer()({"doubled": state["value"] * 2})
    return {"value": state["value"] * 2}


def finish(state: NestedState) -> dict[str, Any]:
    return {"value": state["value"] + 1, "trail": ["finish"]}


child = StateGraph(ChildState).add_node("double", double).add_edge(START, "double").compile()

nested = (
    StateGraph(NestedState)
    .add_node("prepare", prepare)
    .add_node("child", child)
    .add_node("finish", finish)
    .add_edge(START, "prepare")
    .add_edge("prepare", "child")
    .add_edge("child", "finish")
    .add_edge("finish", END)
    .compile()
)


async def respond(state: MessagesState) -> dict[str, Any]:
    last = state["messages"][-1].content
    model = GenericFakeChatModel(messages=iter([AIMessage(content=f"you said: {last}")]))
    return {"messages": [await model.ainvoke(state["messages"])]}


chat = StateGraph(MessagesState).add_node("respond", respond).add_edge(START, "respond").compile()
