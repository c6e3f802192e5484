"""``python -m migrations``: applies everything, is idempotent, and safe from two processes."""

from __future__ import annotations

import subprocess
import sys
import uuid

import psycopg
import pytest

from tests.conftest import PG_ADMIN, ROOT
from tests.support import database_url_for

EXPECTED_TABLES = {
    "assistants",
    "assistant_versions",
    "threads",
    "runs",
    "checkpoints",
    "checkpoint_writes",
    "checkpoint_blobs",
    "store",
}


@pytest.fixture
def empty_database():
    name = f"cb_migrate_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield database_url_for(PG_ADMIN, name)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "migrations"],
        cwd=ROOT,
        env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_two_processes_at_once_then_a_third_run_changes_nothing(empty_database):
    first, second = _migrate(empty_database), _migrate(empty_database)
    outputs = [p.communicate(timeout=120)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert EXPECTED_TABLES <= _tables(empty_database)
    with psycopg.connect(empty_database) as conn:
        applied = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()[0]
    sql_files = len(list((ROOT / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql")))
    assert applied == sql_files  # each file applied exactly once, by one of the two

    third = _migrate(empty_database)
    output = third.communicate(timeout=120)[0]
    assert third.returncode == 0, output
    assert "(0 file(s) applied now)" in output
