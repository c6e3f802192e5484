"""``callboard dev``: the whole stack in one command, restarted when a graph's code changes."""

from __future__ import annotations

import json
import os
import signal
import sys

import httpx

from tests.support import free_port, wait_for

GRAPH = '''
def hello(state: dict) -> dict:
    return {{"greeting": "{version}"}}
'''


def test_dev_runs_the_stack_and_reloads_a_changed_graph(stack, tmp_path):
    graph = tmp_path / "graphs" / "dev_graph.py"
    graph.parent.mkdir()
    graph.write_text(GRAPH.format(version="v1"))
    config = graph.parent / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"hello": "./dev_graph.py:hello"}}))
    port = free_port()
    dev = stack._start(
        "dev",
        [sys.executable, "-m", "app.cli", "dev", "--port", str(port)],
        stack.env(CALLBOARD_CONFIG=str(config)),
        port,
    )

    def greeting() -> str | None:
        if dev.popen.poll() is not None:
            raise AssertionError(f"callboard dev exited:\n{dev.output()}")
        try:
            response = httpx.post(
                f"{dev.url}/runs/wait", json={"assistant_id": "hello", "input": {}}, timeout=10
            )
        except httpx.HTTPError:
            return None
        return response.json().get("greeting") if response.status_code == 200 else None

    assert wait_for(greeting, timeout=90, interval=0.5, what="a run through dev") == "v1"
    for name in ("web", "worker", "sweeper"):
        assert f"{name} started (pid=" in dev.output()
    assert dev.output().count("callboard worker ready") == 1

    graph.write_text(GRAPH.format(version="v2"))
    wait_for(lambda: greeting() == "v2", timeout=90, interval=0.5, what="the changed graph")
    # watchfiles restarted the worker (gunicorn reloaded web): the new code runs
    wait_for(lambda: dev.output().count("callboard worker ready") == 2, what="worker restart")

    os.kill(dev.pid, signal.SIGTERM)  # as Ctrl-C in a terminal would: honcho stops all three
    assert dev.wait(timeout=60) is not None

    def group_gone() -> bool:
        try:
            os.killpg(dev.pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(group_gone, timeout=30, what="web, worker and sweeper to exit")
