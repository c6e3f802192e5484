"""Record the official server's answers to the SDK sweep (``tests/sdk_sweep/fixtures/``).

    python -m tests.sdk_sweep.record --langgraph /path/to/venv/bin/langgraph [CASE ...]
    python -m tests.sdk_sweep.record --url http://127.0.0.1:2124 [CASE ...]

With ``--langgraph`` it starts the official server itself (``langgraph dev``, in-memory, from a
fresh temporary folder whose ``langgraph.json`` serves ``tests/sdk_sweep/langgraph.json``'s graphs
by absolute path; port ``--port``, default 2124) and stops it after. The side venv needs
``pip install "langgraph-cli[inmem]"``. Each case is run with the sync and the async client and
written, normalised (``tests/sdk_sweep/harness.py``), to ``fixtures/<case>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.sdk_sweep.runner import ALL_CASES, FIXTURES, SWEEP, run_case


def _start_official(langgraph: str, port: int, folder: Path) -> subprocess.Popen[bytes]:
    registry = json.loads((SWEEP / "langgraph.json").read_text())
    graphs = {}
    for name, spec in registry["graphs"].items():
        path, _, attr = spec.partition(":")
        graphs[name] = f"{(SWEEP / path).resolve()}:{attr}"
    (folder / "langgraph.json").write_text(
        json.dumps({"dependencies": ["."], "graphs": graphs}, indent=2)
    )
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}
    argv = [langgraph, "dev", "--no-browser", "--no-reload", "--port", str(port)]
    argv += ["--n-jobs-per-worker", "10"]
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - kept open for the server's life
    proc = subprocess.Popen(
        argv, cwd=folder, env=env, stdout=log, stderr=log, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ok", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    proc.kill()
    sys.exit(f"the official server did not start; see {folder / 'server.log'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--url", help="an official server already running")
    parser.add_argument("--langgraph", help="the langgraph CLI of a side venv")
    parser.add_argument("--port", type=int, default=2124)
    args = parser.parse_args()
    names = args.cases or list(ALL_CASES)
    proc = None
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url
        if url is None:
            if not args.langgraph:
                parser.error("give --url or --langgraph")
            proc = _start_official(args.langgraph, args.port, Path(tmp))
            url = f"http://127.0.0.1:{args.port}"
        try:
            FIXTURES.mkdir(exist_ok=True)
            for name in names:
                recorded = {kind: run_case(name, kind, url) for kind in ("sync", "async")}
                path = FIXTURES / f"{name}.json"
                path.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
                print(f"{name}: {sum(len(v) for v in recorded.values())} calls -> {path}")
        finally:
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
