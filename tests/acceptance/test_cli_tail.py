"""``callboard runs tail`` against a live run (real web and worker processes)."""

from __future__ import annotations

import json
import re

import httpx
from click.testing import CliRunner

from app.cli import main
from tests.conftest import TEST_REGISTRY


def test_tail_prints_a_live_runs_events_until_it_ends(stack, settings):
    web = stack.web()
    stack.worker()
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "CALLBOARD_CONFIG": TEST_REGISTRY,
        "COLUMNS": "200",
    }
    with httpx.Client(base_url=web.url, timeout=30) as http:
        thread = http.post("/threads", json={}).json()["thread_id"]
        run = http.post(
            f"/threads/{thread}/runs",
            json={
                "assistant_id": "ticker",
                "input": {"count": 4, "interval": 0.4},
                "stream_mode": ["custom", "values"],
            },
        ).json()
    # started while the run is pending or running: the tail follows it to its end
    result = CliRunner().invoke(main, ["runs", "tail", run["run_id"], "--timeout", "60"], env=env)
    assert result.exit_code == 0, result.output
    events = re.findall(r"^\d+-\d+ (\w+) (.*)$", result.output, flags=re.M)
    assert [(e, json.loads(d)) for e, d in events if e == "custom"] == [
        ("custom", {"i": i}) for i in range(4)
    ]
    assert events[0][0] == "metadata" and json.loads(events[0][1])["run_id"] == run["run_id"]
    assert json.loads(events[-1][1])["ticks"] == [0, 1, 2, 3]  # the last values event
    assert result.output.rstrip().endswith(f"run {run['run_id']} ended: success")


def test_tail_of_an_unknown_run_fails_clearly(settings):
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "CALLBOARD_CONFIG": TEST_REGISTRY}  # fmt: skip
    result = CliRunner().invoke(
        main, ["runs", "tail", "00000000-0000-0000-0000-000000000001"], env=env
    )
    assert result.exit_code == 1
    assert "run 00000000-0000-0000-0000-000000000001 not found" in result.output
