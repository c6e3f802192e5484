"""One graph of each kind the registry accepts, and things it must refuse."""

from __future__ import annotations

from typing import TypedDict

from langgraph.func import entrypoint
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    n: int


def _inc(state: State) -> State:
    return {"n": state.get("n", 0) + 1}


def _builder() -> StateGraph:
    builder = StateGraph(State)
    builder.add_node("inc", _inc)
    builder.add_edge(START, "inc")
    builder.add_edge("inc", END)
    return builder


compiled = _builder().compile()
uncompiled = _builder()


def factory():
    return compiled


def factory_with_config(config):
    return compiled


# (config, runtime) factories, as the official server calls them (langgraph_sdk.runtime): each
# records the runtime it was given, so a test can check what the registry passed
seen_runtimes: list = []


async def async_factory_with_runtime(config, runtime):
    seen_runtimes.append(runtime)
    return compiled


def factory_with_runtime_only(runtime):
    seen_runtimes.append(runtime)
    return compiled


@entrypoint()
def functional(input: dict) -> dict:
    return {"doubled": input["x"] * 2}


def plain(input: dict) -> dict:
    """Add one to x."""
    return {"x": input["x"] + 1}


async def plain_async(input: dict) -> dict:
    return {"x": input["x"] - 1}


def failing_factory():
    raise RuntimeError("factory exploded")


not_a_graph = 42
