"""A test graph that uses the long-term memory store at run time (``tests/integration/
test_store.py``): it proves that graphs and the ``/store`` API share one store.

``memory``: ``remember`` writes ``{"fact": fact}`` under namespace ``("memories", user)`` and key
    ``key`` through the node's ``store`` parameter; ``recall`` lists that namespace through
    ``langgraph.config.get_store()``. Input ``{"user": str, "key": str, "fact": str}``; output
    adds ``"known": [facts of the user, sorted]``.
"""

from __future__ import annotations

from typing import Any

from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from typing_extensions import TypedDict


class MemoryState(TypedDict, total=False):
    user: str
    key: str
    fact: str
    known: list[str]


async def remember(state: MemoryState, *, store: BaseStore) -> dict[str, Any]:
    await store.aput(("memories", state["user"]), state["key"], {"fact": state["fact"]})
    return {}


async def recall(state: MemoryState) -> dict[str, Any]:
    items = await get_store().asearch(("memories", state["user"]), limit=100)
    return {"known": sorted(item.value["fact"] for item in items)}


_builder = StateGraph(MemoryState)
_builder.add_node("remember", remember)
_builder.add_node("recall", recall)
_builder.add_edge(START, "remember")
_builder.add_edge("remember", "recall")
_builder.add_edge("recall", END)
memory = _builder.compile(name="memory")
