"""Helpers for the auth tests: a copy of the test registry with an ``auth.path``."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_REGISTRY = ROOT / "tests" / "graphs" / "langgraph.json"
OWNER_AUTH = f"{ROOT / 'tests' / 'auth' / 'owner.py'}:auth"
ALLOW_ALL_AUTH = f"{ROOT / 'tests' / 'auth' / 'allow_all.py'}:auth"


def registry_with_auth(directory: Path, auth_path: str) -> str:
    """Write ``directory/langgraph.json``: the test registry's graphs (absolute paths) and
    ``"auth": {"path": auth_path}``. Returns its path."""
    document = json.loads(TEST_REGISTRY.read_text())
    graphs = {}
    for graph_id, source in document["graphs"].items():
        file, _, attr = source.rpartition(":")
        graphs[graph_id] = f"{(TEST_REGISTRY.parent / file).resolve()}:{attr}"
    path = directory / "langgraph.json"
    path.write_text(json.dumps({"graphs": graphs, "auth": {"path": auth_path}}))
    return str(path)
