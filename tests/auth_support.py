"""Helpers for the auth tests: a copy of the test registry with an ``auth.path``."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_REGISTRY = ROOT / "tests" / "graphs" / "langgraph.json"
OWNER_AUTH = f"{ROOT / 'tests' / 'auth' / 'owner.py'}:auth"
ALLOW_ALL_AUTH = f"{ROOT / 'tests' / 'auth' / 'allow_all.py'}:auth"


def registry_with_auth(directory: Path, auth_path: str, source: Path = TEST_REGISTRY) -> str:
    """Write ``directory/langgraph.json``: the graphs and local ``dependencies`` of the
    ``source`` registry (paths made absolute) and ``"auth": {"path": auth_path}``. Returns its
    path."""
    document = json.loads(source.read_text())
    graphs = {}
    for graph_id, spec in document["graphs"].items():
        file, _, attr = spec.rpartition(":")
        graphs[graph_id] = f"{(source.parent / file).resolve()}:{attr}"
    copy: dict = {"graphs": graphs, "auth": {"path": auth_path}}
    if "dependencies" in document:
        copy["dependencies"] = [
            str((source.parent / dep).resolve()) if dep.startswith(".") else dep
            for dep in document["dependencies"]
        ]
    path = directory / "langgraph.json"
    path.write_text(json.dumps(copy))
    return str(path)
