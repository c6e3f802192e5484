"""A run that sleeps: a LangGraph functional-API ``@entrypoint`` built by a factory.

Input: ``{"seconds": number}``. Output: ``{"slept": number}``. The sleep is ``asyncio.sleep``,
so a cancel or a time limit stops it at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.func import entrypoint


@entrypoint()
async def sleeper(input: dict[str, Any]) -> dict[str, Any]:
    """Sleep ``input["seconds"]`` seconds (default 1) and say how long."""
    seconds = float(input.get("seconds", 1))
    await asyncio.sleep(seconds)
    return {"slept": seconds}


def make_graph() -> Any:
    """Factory form: the registry may name a function that returns the graph."""
    return sleeper
