"""The SDK sweep (issue 9 item 4): every method and parameter form of ``langgraph_sdk``, with
the sync and the async client, against a Callboard stack, each answer compared field by field
with the official server's (langgraph-api 0.16.7, ``langgraph dev``) recorded in
``tests/sdk_sweep/fixtures/<case>.json`` by ``python -m tests.sdk_sweep.record`` (its docstring
says how to re-record). A recorded call is the SDK's return value (or the error it raised) and
the status and SDK-read headers of every HTTP answer behind it, ids and timestamps masked
(``tests/sdk_sweep/harness.py``).

``KNOWN_DIFFERENCES`` lists, by a pattern over the report line (``case.json [label] path``),
the differences that stay: where the official answer is its own bug, where Callboard answers
otherwise on purpose, and those not fixed yet (each says which). Every other field must match.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.config import Settings
from tests.conftest import PG_ADMIN, REDIS_BASE, REDIS_DB, _admin
from tests.sdk_sweep.compare import differences
from tests.sdk_sweep.known import KNOWN_DIFFERENCES
from tests.sdk_sweep.runner import ALL_CASES, FIXTURES, SWEEP, run_case
from tests.support import Proc, Stack, database_url_for

pytestmark = pytest.mark.timeout(600)



@pytest.fixture(scope="module")
def sweep_web(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """One Callboard stack (web, worker, sweeper) serving ``tests/sdk_sweep/langgraph.json``
    for every case: each case tags its rows, so cases do not see each other's."""
    name = f"cb_sweep_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    redis_url = f"{REDIS_BASE}/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    settings = Settings(
        database_url=database_url_for(PG_ADMIN, name),
        redis_url=redis_url,
        config_path=str(SWEEP / "langgraph.json"),
        heartbeat_seconds=1.0,
        sweep_interval_seconds=1.0,
        shutdown_grace_seconds=5.0,
        run_timeout_seconds=120.0,
    )
    stack = Stack(settings, tmp_path_factory.mktemp("sweep"))
    try:
        web = stack.web(threads=32)
        stack.worker()
        stack.sweeper()
        yield web
    finally:
        stack.stop_all()
        redis.Redis.from_url(redis_url).flushdb()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _official(case: str, kind: str) -> dict:
    path: Path = FIXTURES / f"{case}.json"
    return json.loads(path.read_text())[kind]


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("case", sorted(ALL_CASES))
def test_sdk_call_matches_the_official_answer(sweep_web: Proc, case: str, kind: str) -> None:
    """Each call of ``case`` answers as the official server's ``fixtures/<case>.json``
    [``kind``][label] (named in the failure)."""
    expected = _official(case, kind)
    actual = run_case(case, kind, sweep_web.url)
    assert sorted(actual) == sorted(expected), "the case made other calls than recorded"
    report = []
    for label in sorted(expected):
        for line in differences(expected[label], actual[label]):
            where = f"{case}.json [{label}] {line}"
            if not any(re.search(pattern, where) for pattern, _why in KNOWN_DIFFERENCES):
                report.append(f"fixtures/{case}.json [{kind}][{label}] {line}")
    assert not report, f"{len(report)} differences from the official server:\n" + "\n".join(report)
