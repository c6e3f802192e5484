"""The event loop's watchdog: is the worker's loop still making progress?

Every attempt of a worker process runs on one asyncio loop (``workers.executor``), while the
heartbeats beat from threads of their own. An async node that blocks (``time.sleep``, a
synchronous HTTP call, a long computation) stalls every attempt on the loop, yet the beats would
go on: the runs would stay ``running`` for as long as the loop is blocked, and cancels, time
limits and lease checks would do nothing. So the beats ask the watchdog first, and stop when the
loop has not answered a ping for ``stall_seconds``; the sweeper then hands the runs to another
worker, and the stale attempts are stopped (lease lost) once the loop moves again. The worker also
claims no run while its loop is stalled (``workers.actors.execute_run``).

A sync node that holds the GIL stops the beats' threads too: the heartbeat lapses by itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

logger = logging.getLogger(__name__)


class LoopWatchdog:
    """Pings ``loop`` from a daemon thread every ``stall_seconds / 4`` seconds and records when
    it last answered.

    Parameters:
        loop: the event loop watched (running in another thread).
        stall_seconds: how long the loop may go without answering before ``stalled`` is true.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, stall_seconds: float) -> None:
        self.loop = loop
        self.stall_seconds = stall_seconds
        self._answered = time.monotonic()
        self._stop = threading.Event()
        self._was_stalled = False
        self._thread = threading.Thread(target=self._ping_loop, name="loop-watchdog", daemon=True)

    def start(self) -> LoopWatchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def lag_seconds(self) -> float:
        """Seconds since the loop last answered a ping."""
        return time.monotonic() - self._answered

    def stalled(self) -> bool:
        """True when the loop has not answered for more than ``stall_seconds`` (logged once per
        stall)."""
        lag = self.lag_seconds()
        stalled = lag > self.stall_seconds and not self.loop.is_closed()
        if stalled and not self._was_stalled:
            logger.error(
                "event loop stalled for %.1f s (a blocking call in an async node?): heartbeats "
                "stop and no run is claimed until it moves again",
                lag,
            )
        elif self._was_stalled and not stalled:
            logger.warning("event loop moving again")
        self._was_stalled = stalled
        return stalled

    def _answer(self) -> None:
        self._answered = time.monotonic()

    def _ping_loop(self) -> None:
        period = max(self.stall_seconds / 4, 0.01)
        while not self._stop.wait(period):
            if self.loop.is_closed():
                return
            try:
                self.loop.call_soon_threadsafe(self._answer)
            except RuntimeError:  # closed meanwhile
                return
