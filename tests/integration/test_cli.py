"""``callboard`` commands against a real database and Redis (click's CliRunner)."""

from __future__ import annotations

import json
import os
import uuid

import psycopg
from click.testing import CliRunner

from app.cli import main
from tests import ops_scenario
from tests.conftest import PG_ADMIN, TEST_REGISTRY
from tests.support import database_url_for


def env_for(settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "CALLBOARD_CONFIG": TEST_REGISTRY,
        "HEARTBEAT_SECONDS": str(settings.heartbeat_seconds),
    }


def test_migrate_brings_an_empty_database_up_to_date_once():
    name = f"cb_cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = database_url_for(PG_ADMIN, name)
    try:
        env = {"DATABASE_URL": url, "CALLBOARD_CONFIG": TEST_REGISTRY}
        first = CliRunner().invoke(main, ["migrate"], env=env)
        assert first.exit_code == 0, first.output
        applied = int(first.output.split("(")[1].split()[0])
        assert applied == len([f for f in os.listdir("migrations") if f[:4].isdigit()])
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)
            assert conn.execute(
                "SELECT 1 FROM pg_indexes WHERE indexname = 'runs_ended_at'"
            ).fetchone()
        again = CliRunner().invoke(main, ["migrate"], env=env)
        assert again.exit_code == 0 and "(0 migration file(s) applied now)" in again.output
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_reports_a_bad_registry_without_a_traceback(tmp_path, settings):
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"a": "x.py:a"}, "python_version": "3.11"}))
    result = CliRunner().invoke(
        main, ["migrate"], env={**env_for(settings), "CALLBOARD_CONFIG": str(config)}
    )
    assert result.exit_code == 1
    assert "Error: 'python_version'" in result.output and "Traceback" not in result.output


def test_status_shows_queue_workers_heartbeats_lapsed_runs_crons_and_webhooks(client, settings):
    def post(path, body):
        response = client.post(path, json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    scenario = ops_scenario.build(
        post, settings.database_url, settings.redis_url, settings.heartbeat_seconds
    )
    result = CliRunner().invoke(main, ["status", "--json"], env=env_for(settings))
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["runs_by_status"] == {
        "pending": 2, "running": 2, "success": 0, "error": 0, "timeout": 0, "interrupted": 0,
    }  # fmt: skip
    assert status["queue_depth"] == 4  # the four runs' messages; no worker consumed them
    assert sorted(status["running_by_worker"]) == ["worker-a", "worker-b"]
    (fresh,) = status["running_by_worker"]["worker-a"]
    assert fresh["run_id"] == scenario.running and not fresh["lapsed"]
    assert 0 <= fresh["heartbeat_age_seconds"] < settings.heartbeat_seconds
    (old,) = status["running_by_worker"]["worker-b"]
    assert old["heartbeat_age_seconds"] is None and old["lapsed"]
    assert status["lapsed_runs"] == [scenario.lapsed]
    assert status["due_crons"] == 1
    assert status["webhook_backlog"] == 1

    table = CliRunner().invoke(main, ["status"], env={**env_for(settings), "COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "lapsed runs (heartbeat gone)" in table.output and scenario.lapsed in table.output
    assert "worker-a" in table.output and "lapsed" in table.output


def test_plan_prints_the_seed_formula_and_measured_costs():
    result = CliRunner().invoke(
        main, ["plan", "--throughput", "500", "--run-seconds", "1", "--n-jobs", "50"],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip()
             for line in result.output.splitlines() if line.count("│") == 3}  # fmt: skip
    assert lines["Queue workers (1 CPU)"] == "10"  # 500 × 1 / 50: the seed's formula
    assert lines["Available jobs"] == "500"
    assert lines["Runs executing at once"] == "500"
    assert "measured: bench/e2e.py" in result.output


def test_plan_refuses_nonsense():
    result = CliRunner().invoke(main, ["plan", "--throughput", "5", "--run-seconds", "0"])
    assert result.exit_code == 2 and "--run-seconds" in result.output
    assert CliRunner().invoke(main, ["plan"]).exit_code == 2
