"""Test graphs that leave evidence of every execution.

``ledger`` appends ``<run_id> <attempt> <pid>`` to the file named by ``CALLBOARD_TEST_LEDGER``
(one ``write`` of a short line to an ``O_APPEND`` file: atomic), so a test can count how many
times each run was executed, by which process, across real worker processes.
Input: ``{"sleep": seconds = 0, "crash": bool = False, "fail": str | None}``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.func import entrypoint


def _record(config: RunnableConfig, event: str) -> None:
    path = os.environ.get("CALLBOARD_TEST_LEDGER")
    if not path:
        return
    configurable = config.get("configurable", {})
    attempt = config.get("metadata", {}).get("run_attempt")
    line = f"{configurable.get('run_id')} {attempt} {os.getpid()} {event}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@entrypoint()
async def ledger(input: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
    _record(config, "start")
    if input.get("crash"):
        os._exit(17)  # a worker process dying mid-run, as a segfault or OOM kill would
    await asyncio.sleep(float(input.get("sleep", 0)))
    if input.get("fail"):
        raise RuntimeError(input["fail"])
    _record(config, "end")
    return {"ok": True, "echo": input.get("echo")}
