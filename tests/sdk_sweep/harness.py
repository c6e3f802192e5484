"""The SDK sweep's machinery: a ``langgraph_sdk`` client (sync or async) whose HTTP answers are
watched, and a ``Recorder`` that runs one call, normalises what came back and keeps it.

A recorded call is ``{"result": <SDK return value>, "http": [<exchange>, ...]}`` or
``{"error": {"type", "status"}, "detail": <message>, "http": [...]}``. An exchange is
``{"method", "path", "status", "headers"}`` with only the headers the SDK reads
(``HEADERS``). Normalised: ids become ``<key:n>`` (the n-th distinct value seen under that key
in the case, so the same run is the same token wherever it appears), other UUIDs ``<uuid>``,
ISO timestamps ``<ts>``. Dict keys are walked sorted, so the servers' key order does not matter.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.sdk_clients import open_client

HEADERS = (
    "content-type",
    "location",
    "content-location",
    "x-pagination-total",
    "x-pagination-next",
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HEX_ID = re.compile(r"[0-9a-f]{32}")  # interrupt ids: a hash of the task's path
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")


class Normaliser:
    """Masks ids and timestamps in a case's values (one instance per case run)."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def name(self, value: str, key: str) -> str:
        """The token of ``value``, minting ``<key:n>`` on first sight."""
        if value not in self.tokens:
            self.counts[key] = self.counts.get(key, 0) + 1
            self.tokens[value] = f"<{key}:{self.counts[key]}>"
        return self.tokens[value]

    def __call__(self, value: Any, key: str = "") -> Any:
        if not key:
            self._register(value, 0)
        if isinstance(value, dict):
            return {self.text(str(k)): self(value[k], str(k)) for k in sorted(value, key=str)}
        if isinstance(value, (list, tuple)):
            return [self(v, key) for v in value]
        if isinstance(value, str):
            return self.text(value, key)
        return value

    def _register(self, value: Any, depth: int) -> None:
        """Name the ids of the answer's own objects first (the ``*_id`` fields of the value,
        of its list items and of stream parts' data), so that a field one server adds deeper
        down does not shift the numbering."""
        if depth > 3:
            return
        if isinstance(value, (list, tuple)):
            for item in value:
                self._register(item, depth + 1)
        elif isinstance(value, dict):
            for k in sorted(value, key=str):
                v = value[k]
                if isinstance(v, str) and str(k).endswith("_id") and UUID.fullmatch(v):
                    self.name(v, str(k))
            for k in sorted(value, key=str):
                if isinstance(value[k], list):
                    self._register(value[k], depth + 1)

    def text(self, value: str, key: str = "") -> str:
        if UUID.fullmatch(value) and key.endswith("_id"):
            return self.name(value, key)
        if HEX_ID.fullmatch(value) and key in ("id", "interrupt_id"):
            return self.name(value, "interrupt_id")
        value = UUID.sub(lambda m: self.tokens.get(m.group(0), "<uuid>"), value)
        return TIMESTAMP.sub("<ts>", value)


class _Watch:
    """The HTTP answers of the call under way (an httpx response hook of the SDK's client)."""

    def __init__(self) -> None:
        self.exchanges: list[httpx.Response] = []

    def sync_hook(self, response: httpx.Response) -> None:
        self.exchanges.append(response)

    async def async_hook(self, response: httpx.Response) -> None:
        self.exchanges.append(response)


def _part(part: Any) -> Any:
    if isinstance(part, tuple) and hasattr(part, "_fields"):  # a StreamPart
        return [part.event, part.data]
    return part


class Recorder:
    """Runs a case's calls on one client and keeps ``{label: recorded call}``."""

    def __init__(self, client: Any, watch: _Watch) -> None:
        self.client = client  # tests/sdk_clients.py: a blocking sync or async SDK client
        self.watch = watch
        self.norm = Normaliser()
        self.calls: dict[str, Any] = {}
        self.raw: dict[str, Any] = {}

    def __call__(self, label: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``client.<section>.<name>(*args, **kwargs)`` (``method`` is
        ``"section.name"``), record it under ``label`` and return the raw value (``None`` on
        an error answer)."""
        assert label not in self.calls, label
        section, name = method.split(".")
        self.watch.exchanges.clear()
        entry: dict[str, Any] = {}
        value: Any = None
        try:
            value = getattr(getattr(self.client, section), name)(*args, **kwargs)
            if isinstance(value, list):  # a stream, collected
                value = [_part(p) for p in value]
            entry["result"] = self.norm(value)
        except httpx.HTTPStatusError as exc:
            entry["error"] = {"type": type(exc).__name__, "status": exc.response.status_code}
            entry["detail"] = self.norm(_detail(exc.response))
        except httpx.TransportError as exc:  # the server dropped the connection
            entry["error"] = {"type": "TransportError", "status": None}
            entry["detail"] = type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - what the SDK raised from the answer
            entry["error"] = {"type": type(exc).__name__, "status": None}
            entry["detail"] = self.norm(str(exc))
        entry["http"] = [self._exchange(r) for r in self.watch.exchanges]
        self.calls[label] = entry
        self.raw[label] = value
        return value

    def note(self, label: str, value: Any) -> None:
        """Record a value the case computed itself."""
        self.calls[label] = {"result": self.norm(value)}

    def _exchange(self, response: httpx.Response) -> dict[str, Any]:
        request = response.request
        path = self.norm.text(request.url.raw_path.decode())
        headers = {}
        for name in HEADERS:
            if name in response.headers:
                value = response.headers[name]
                if name == "content-type":
                    value = value.partition(";")[0].strip()
                headers[name] = self.norm.text(value)
        return {
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "headers": headers,
        }

    def running(self, label: str, thread_id: str) -> dict[str, Any]:
        """Record ``runs.create`` of a 30 s ``sleeper`` run under ``label``; return it once it
        is running."""
        run = self(label, "runs.create", thread_id, "sleeper", input={"seconds": 30})
        self.wait_status(thread_id, run["run_id"], ("running",))
        return run

    def wait_status(self, thread_id: str, run_id: str, statuses: tuple[str, ...]) -> None:
        """Poll ``runs.get`` (unrecorded) until the run is in one of ``statuses``."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run = self.client.runs.get(thread_id, run_id)
            if run["status"] in statuses:
                return
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} never reached {statuses}")


def _detail(response: httpx.Response) -> Any:
    try:
        response.read()
        return response.json()
    except Exception:  # noqa: BLE001 - a body that is not JSON is kept as text
        return response.text


@contextmanager
def open_recorder(kind: str, url: str) -> Iterator[Recorder]:
    """A ``Recorder`` on a fresh client of ``kind`` (``"sync"`` / ``"async"``) for ``url``."""
    watch = _Watch()
    with open_client(kind, url) as client:
        hook = watch.sync_hook if kind == "sync" else watch.async_hook
        client._client.http.client.event_hooks["response"] = [hook]
        yield Recorder(client, watch)
