"""Shared fixtures: a template database built once from ``migrations/``, cloned per test; a Redis
DB number of the tests' own, flushed around each test; real processes for acceptance tests.

Environment (all optional):
    CALLBOARD_TEST_PG        admin URL of the Postgres server (default: postgres on 127.0.0.1)
    CALLBOARD_TEST_REDIS     base URL of the Redis server (default: redis://127.0.0.1:6379)
    CALLBOARD_TEST_REDIS_DB  the Redis DB number the tests own (default: 13)
    CALLBOARD_TEST_AUTH      ``allow_all``: every app and stack of the tests runs with custom auth
                             on (``tests/auth/allow_all.py``: authenticates anyone, every handler
                             allows), to show the suites pass with auth on
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from app.config import Settings
from migrations import apply_all
from tests.auth_support import ALLOW_ALL_AUTH, registry_with_auth
from tests.support import Stack, close_runtime, database_url_for, make_runtime

ROOT = Path(__file__).resolve().parent.parent
TEST_REGISTRY = str(ROOT / "tests" / "graphs" / "langgraph.json")
PG_ADMIN = os.environ.get("CALLBOARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("CALLBOARD_TEST_REDIS", "redis://127.0.0.1:6379")
REDIS_DB = int(os.environ.get("CALLBOARD_TEST_REDIS_DB", "13"))
TEST_AUTH = os.environ.get("CALLBOARD_TEST_AUTH", "")


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    """Name of a database with every migration applied (built once per session)."""
    name = f"cb_template_{os.getpid()}"
    _admin(f'DROP DATABASE IF EXISTS "{name}"')
    _admin(f'CREATE DATABASE "{name}"')
    apply_all(database_url_for(PG_ADMIN, name))
    yield name
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(template_db: str) -> Iterator[str]:
    """A fresh database cloned from the template, dropped after the test."""
    name = f"cb_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield database_url_for(PG_ADMIN, name)
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The tests' own Redis DB, empty at the start and flushed at the end."""
    url = f"{REDIS_BASE}/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """File the ``ledger`` test graph appends one line to per execution event."""
    path = tmp_path / "ledger.txt"
    path.touch()
    return path


@pytest.fixture(scope="session")
def test_registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The registry the tests run on: ``tests/graphs/langgraph.json``, with the allow-all auth
    when ``CALLBOARD_TEST_AUTH=allow_all``."""
    if TEST_AUTH == "allow_all":
        return registry_with_auth(tmp_path_factory.mktemp("auth"), ALLOW_ALL_AUTH)
    if TEST_AUTH:
        raise ValueError(f"CALLBOARD_TEST_AUTH: expected 'allow_all' or nothing, got {TEST_AUTH!r}")
    return TEST_REGISTRY


@pytest.fixture
def settings(database_url: str, redis_url: str, ledger: Path, test_registry: str) -> Settings:
    os.environ["CALLBOARD_TEST_LEDGER"] = str(ledger)
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        config_path=test_registry,
        heartbeat_seconds=1.0,
        sweep_interval_seconds=1.0,
        shutdown_grace_seconds=5.0,
        run_timeout_seconds=60.0,
    )


@pytest.fixture
def stack(settings: Settings, tmp_path: Path, ledger: Path) -> Iterator[Stack]:
    """Real processes (gunicorn web, ``python -m workers``, ``python -m sweeper``), started on
    demand by the test and stopped (SIGTERM, then SIGKILL) at its end."""
    s = Stack(settings, tmp_path, extra_env={"CALLBOARD_TEST_LEDGER": str(ledger)})
    yield s
    s.stop_all()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Any]:
    """An in-process worker runtime (executor, heartbeats, broker) installed for the actor body;
    the test calls ``execute_run`` itself, no Dramatiq worker consumes."""
    from workers import runtime as rt_module

    rt = make_runtime(settings)
    rt_module.install(rt)
    yield rt
    rt_module._current = None
    close_runtime(rt)


@pytest.fixture
def app(settings: Settings) -> Iterator[Any]:
    """The Flask app on the test database (its test client needs no server)."""
    from app import create_app

    flask_app = create_app(settings)
    yield flask_app
    flask_app.extensions["callboard"].close()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()
