"""Auth through real processes (gunicorn web, ``python -m workers``) and ``langgraph-sdk``: the
owner pattern with two users (runs execute, each user joins and streams their own, the other gets
404s), and the API-key mode with ``get_sync_client(api_key=...)`` (sent as ``x-api-key``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import AuthenticationError, NotFoundError

from tests.auth_support import OWNER_AUTH, registry_with_auth
from tests.support import Stack

pytestmark = pytest.mark.timeout(180)

ALICE = {"Authorization": "Bearer token-alice"}
BOB = {"Authorization": "Bearer token-bob"}


def assert_not_found(call: Callable[[], Any]) -> None:
    """``call`` fails with a 404 (the SDK raises its ``NotFoundError``, or httpx's error for the
    calls it makes without its error mapping, such as ``runs.join``)."""
    with pytest.raises((NotFoundError, httpx.HTTPStatusError)) as raised:
        call()
    if isinstance(raised.value, httpx.HTTPStatusError):
        assert raised.value.response.status_code == 404


def test_two_users_through_the_sdk(stack: Stack, tmp_path: Path) -> None:
    config = registry_with_auth(tmp_path, OWNER_AUTH)
    web = stack.web(CALLBOARD_CONFIG=config)
    stack.worker(CALLBOARD_CONFIG=config)
    with (
        get_sync_client(url=web.url, headers=ALICE) as alice,
        get_sync_client(url=web.url, headers=BOB) as bob,
        get_sync_client(url=web.url) as nobody,
    ):
        thread = alice.threads.create(metadata={"topic": "private"})
        assert thread["metadata"] == {"topic": "private", "owner": "alice"}
        tid = thread["thread_id"]
        run = alice.runs.create(tid, "accumulate", input={"numbers": [1, 2]})
        assert alice.runs.join(tid, run["run_id"])["total"] == 3
        stateless = alice.runs.wait(None, "word_stats", input={"text": "a b a"})
        assert stateless["words"] == 3
        events = list(alice.runs.stream(tid, "accumulate", input={"numbers": [3]}))
        assert events[-1].data["total"] == 6

        for call in (
            lambda: bob.threads.get(tid),
            lambda: bob.threads.get_state(tid),
            lambda: bob.runs.get(tid, run["run_id"]),
            lambda: bob.runs.join(tid, run["run_id"]),
            lambda: bob.runs.create(tid, "accumulate", input={"numbers": [100]}),
            lambda: bob.runs.cancel(tid, run["run_id"]),
            lambda: bob.threads.delete(tid),
        ):
            assert_not_found(call)
        assert bob.threads.search() == [] and bob.threads.count() == 0
        with pytest.raises(AuthenticationError):
            nobody.threads.search()
        assert alice.threads.get(tid)["values"]["total"] == 6  # untouched by bob
        assert [t["thread_id"] for t in alice.threads.search()] == [tid]


def test_api_keys_through_the_sdk(stack: Stack) -> None:
    web = stack.web(CALLBOARD_API_KEYS="first-key,second-key")
    stack.worker()
    with get_sync_client(url=web.url, api_key="second-key") as client:
        result = client.runs.wait(None, "word_stats", input={"text": "x y"})
        assert result["words"] == 2
    for key in (None, "wrong-key"):
        with get_sync_client(url=web.url, api_key=key) as client:
            with pytest.raises(AuthenticationError):
                client.threads.create()
