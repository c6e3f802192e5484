"""Both ``langgraph_sdk`` clients behind one blocking interface, so a test scenario runs once
through the sync client and once through the async one.

``open_client("sync", url)`` is ``get_sync_client``; ``open_client("async", url)`` is
``get_client`` (the async client) whose coroutines run on a private event loop thread: a call
blocks until its coroutine is done, an async iterator (a stream) comes back as a list. Errors are
the SDK's own (``langgraph_sdk.errors``), raised in the calling thread.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from langgraph_sdk import get_client, get_sync_client

CLIENT_KINDS = ("sync", "async")
CALL_TIMEOUT_SECONDS = 120.0


class _Section:
    """``client.runs``, ``client.threads``, …: each method call is made to block."""

    def __init__(self, target: Any, run: Callable[[Any], Any]) -> None:
        self._target = target
        self._run = run

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._target, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if inspect.isawaitable(result):
                return self._run(result)
            if hasattr(result, "__aiter__"):
                return self._run(_collect(result))
            if hasattr(result, "__next__"):
                return list(result)
            return result

        return call


async def _collect(stream: Any) -> list[Any]:
    return [part async for part in stream]


class _SyncClient:
    """The sync SDK client, its streams collected into lists like the async one's."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return _Section(getattr(self._client, name), lambda value: value)


class _AsyncClientThread:
    """The async SDK client on an event loop of its own thread."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client = self.run(self._open(url))

    @staticmethod
    async def _open(url: str) -> Any:
        return get_client(url=url)

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT_SECONDS)

    def __getattr__(self, name: str) -> Any:
        return _Section(getattr(self._client, name), self.run)

    def close(self) -> None:
        try:
            self.run(self._client.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()


@contextmanager
def open_client(kind: str, url: str) -> Iterator[Any]:
    """A blocking ``langgraph_sdk`` client of ``kind`` (``"sync"`` or ``"async"``) for ``url``."""
    if kind == "sync":
        with get_sync_client(url=url) as client:
            yield _SyncClient(client)
        return
    wrapped = _AsyncClientThread(url)
    try:
        yield wrapped
    finally:
        wrapped.close()
