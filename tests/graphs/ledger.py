"""Test graphs that leave evidence of every execution.

``ledger`` appends ``<run_id> <attempt> <pid> <event> <unix time>`` to the file named by
``CALLBOARD_TEST_LEDGER`` (one ``write`` of a short line to an ``O_APPEND`` file: atomic), so a
test can count how many times each run was executed, by which process and when, across real
worker processes (``tests.support.read_ledger``). Events: ``start``; ``end`` (the graph's work is
done, just before it returns); ``cancel`` (the attempt was stopped from outside: a cancel, a lost
lease, a shutdown); ``freeze`` and ``thaw`` around a ``block`` or ``hold_gil`` fault (the
process's attempts make no progress in between).
Input: ``{"sleep": seconds = 0, "crash": bool = False, "fail": str | None, "block": seconds = 0,
"hold_gil": seconds = 0}``: ``block`` calls ``time.sleep`` on the event loop (an async node that
blocks), ``hold_gil`` spins without letting another thread of the process run (a sync node in C
code that keeps the GIL), both before the ``sleep`` and in attempt 1 only (the fault is the
worker's, and the run can finish on another attempt).

Without ``CALLBOARD_TEST_LEDGER`` the graph refuses to run: a test that counts executions must
not pass because nothing was recorded.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.func import entrypoint


def _record(config: RunnableConfig, event: str) -> None:
    path = os.environ.get("CALLBOARD_TEST_LEDGER")
    if not path:
        raise RuntimeError("CALLBOARD_TEST_LEDGER is not set: the ledger cannot record")
    configurable = config.get("configurable", {})
    attempt = config.get("metadata", {}).get("run_attempt")
    run_id = configurable.get("run_id")
    line = f"{run_id} {attempt} {os.getpid()} {event} {time.time():.6f}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _hold_gil(seconds: float) -> None:
    """Keep the GIL for ``seconds``: no other thread of the process runs meanwhile (as a long
    call into C code that does not release it)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds + 1)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pass
    finally:
        sys.setswitchinterval(previous)


@entrypoint()
async def ledger(input: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
    _record(config, "start")
    if input.get("crash"):
        os._exit(17)  # a worker process dying mid-run, as a segfault or OOM kill would
    first = config.get("metadata", {}).get("run_attempt") == 1
    if input.get("block") and first:
        _record(config, "freeze")
        time.sleep(float(input["block"]))  # blocks the event loop (the GIL is released)
        _record(config, "thaw")
    if input.get("hold_gil") and first:
        _record(config, "freeze")
        _hold_gil(float(input["hold_gil"]))
        _record(config, "thaw")
    try:
        await asyncio.sleep(float(input.get("sleep", 0)))
    except asyncio.CancelledError:
        _record(config, "cancel")
        raise
    if input.get("fail"):
        raise RuntimeError(input["fail"])
    _record(config, "end")
    return {"ok": True, "echo": input.get("echo")}
