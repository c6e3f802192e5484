"""Plain functions (Celery-style tasks) for the tests of the direct path (``workers/plain.py``).

Input: ``{"n": int, "sleep": seconds = 0, "fail": str | None, "interrupt": bool}``; the result is
``{"n": n, "double": 2 n, "tags": [...]}`` (a dict: stored as a checkpoint blob).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langgraph.types import interrupt


def _result(input: dict[str, Any]) -> dict[str, Any]:
    if input.get("fail"):
        raise ValueError(input["fail"])
    if input.get("interrupt"):
        interrupt("a plain function cannot stop at an interrupt")
    n = int(input.get("n", 0))
    return {"n": n, "double": 2 * n, "tags": ["plain"]}


def plain(input: dict[str, Any]) -> dict[str, Any]:
    time.sleep(float(input.get("sleep", 0)))
    return _result(input)


async def plain_async(input: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(float(input.get("sleep", 0)))
    return _result(input)


def plain_scalar(input: Any) -> int:
    """A result that is not a dict: inlined in the checkpoint, not a blob."""
    return 42
