"""Faults inside a worker process that its heartbeats must not hide (issue 11): an async node
that blocks the event loop, and the worker's shutdown while it is blocked. Real ``web``,
``worker`` and ``sweeper`` processes; windows as in ``test_resilience.py`` (heartbeat 1 s)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from app.config import Settings
from tests.acceptance.test_resilience import create_runs, wait_started, wait_terminal
from tests.support import Stack, read_ledger_timed

pytestmark = pytest.mark.timeout(300)


def test_a_worker_whose_loop_is_blocked_loses_its_runs_and_still_shuts_down(
    stack: Stack, settings: Settings, ledger: Path
) -> None:
    """Attempt 1 blocks the stalled worker's loop for 120 s: its heartbeats stop, the sweeper
    requeues the run, another worker finishes it; the stalled worker, signalled, hands back what
    it can and exits within its bounded shutdown instead of waiting for the loop (before the fix
    the beats went on, so the run stayed ``running`` for the whole block, and the shutdown waited
    on the blocked loop)."""
    web = stack.web()
    stack.sweeper()
    stalled = stack.worker()
    [run_id] = create_runs(web.url, [{"block": 120}])
    wait_started(ledger, stalled, [run_id])
    stack.worker()
    rows = wait_terminal(settings.database_url, [run_id], timeout=60)
    assert rows[run_id]["status"] == "success" and rows[run_id]["attempt"] == 2
    events = [(e.attempt, e.event) for e in read_ledger_timed(ledger)]
    assert events == [(1, "start"), (1, "freeze"), (2, "start"), (2, "end")]

    stalled.signal(signal.SIGTERM)
    assert stalled.wait(timeout=60) == 0, stalled.output()
    assert "event loop stalled" in stalled.output()


@pytest.mark.parametrize("process", ["web", "worker"])  # the sweeper loads no graph
def test_a_graph_that_fails_to_import_stops_start_up(
    stack: Stack, tmp_path: Path, process: str
) -> None:
    """README: "A graph that fails to import stops start-up with the file and the error"."""
    broken = Path(__file__).resolve().parents[1] / "unit" / "graphs" / "broken.py"
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"broken": f"{broken}:graph"}}))
    env = {"CALLBOARD_CONFIG": str(config)}
    if process == "web":
        with pytest.raises(AssertionError, match="exited early") as stopped:
            stack.web(**env)
        output = str(stopped.value)
    else:
        proc = (
            stack.worker(wait=False, **env)
            if process == "worker"
            else stack.sweeper(wait=False, **env)
        )
        assert proc.wait(timeout=60) != 0
        output = proc.output()
    assert "broken.py" in output and "definitely_missing_dependency" in output
