"""Celery-style tasks for the tests (``tests/graphs/celery.json``: ``"tasks"``).

Tasks that count their executions append ``<token> <pid> <event> <unix time>`` to the file named
by ``CALLBOARD_TEST_LEDGER`` (one ``write`` to an ``O_APPEND`` file: atomic across processes),
so a test counts executions from outside the system under test; ``executions(token)`` reads the
ledger back, and tasks use it to know which execution they are.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import callboard

app = callboard.Callboard()


class PaymentDeclined(Exception):
    """A task's own error type (``get`` raises it by type in a process that imports this)."""


def _ledger() -> Path:
    path = os.environ.get("CALLBOARD_TEST_LEDGER")
    if not path:
        raise RuntimeError("CALLBOARD_TEST_LEDGER is not set: the ledger cannot record")
    return Path(path)


def record(token: str, event: str = "start") -> None:
    line = f"{token} {os.getpid()} {event} {time.time():.6f}\n".encode()
    fd = os.open(_ledger(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def executions(token: str, event: str = "start", path: Path | None = None) -> list[list[str]]:
    """The ledger lines ``[token, pid, event, time]`` of ``token`` and ``event``, in order."""
    text = (path or _ledger()).read_text()
    lines = [line.split() for line in text.splitlines()]
    return [parts for parts in lines if parts[0] == token and parts[2] == event]


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="mul")
def mul(x: int, y: int) -> int:
    return x * y


@app.task(name="tsum")
def tsum(numbers: list[int], extra: int = 0) -> int:
    return sum(numbers) + extra


@app.task(name="fail")
def fail(kind: str, message: str) -> None:
    if kind == "value":
        raise ValueError(message)
    raise PaymentDeclined(message)


@app.task(name="stamp")
def stamp(token: str) -> float:
    """Records its start and returns it (countdown/eta tests)."""
    record(token)
    return time.time()


@app.task(name="nap")
async def nap(token: str, seconds: float) -> str:
    record(token)
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        record(token, "cancel")
        raise
    record(token, "end")
    return "rested"


@app.task(
    name="flaky",
    autoretry_for=(ConnectionError,),
    max_retries=3,
    retry_backoff=0.5,
    retry_jitter=False,
)
def flaky(token: str, failures: int) -> int:
    """Fails with ConnectionError in its first ``failures`` executions, then returns how many
    executions it took."""
    record(token)
    done = len(executions(token))
    if done <= failures:
        raise ConnectionError(f"execution {done} of {token} fails")
    return done


@app.task(name="where", queue="alpha")
def where(token: str) -> int:
    """The pid of the worker that ran it (queue routing)."""
    record(token)
    return os.getpid()


@app.task(name="limited", rate_limit="10/s")
def limited(token: str) -> None:
    record(token)


@app.task(name="member")
def member(token: str, value: int, hang_first: float = 0.0) -> int:
    """A chord member: its first execution of ``token`` records and then hangs ``hang_first``
    seconds (a test kills its worker meanwhile); later ones return ``value`` at once."""
    record(token)
    if len(executions(token)) == 1 and hang_first:
        time.sleep(hang_first)
    return value


@app.task(name="collect")
def collect(results: list[int], token: str) -> int:
    """A chord's callback: records each execution, returns the sum of the members' results."""
    record(token)
    return sum(results)
