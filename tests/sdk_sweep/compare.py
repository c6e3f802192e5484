"""Field-by-field comparison of a recorded call with the official server's answer."""

from __future__ import annotations

import re
from typing import Any

# The official server's bookkeeping of its own deployment, not part of the API: the plan, host,
# versions and URL it stamps on run and checkpoint metadata, the per-request ids and clocks and
# the auth-user entries it injects into ``configurable``. Fields at these paths (indices
# removed) are not compared.
OFFICIAL_INTERNAL = re.compile(
    r"(^|\.)(metadata|configurable)\.("
    r"langgraph_(version|plan|host|api_version|api_url|request_id|auth_user|auth_user_id"
    r"|auth_permissions)|user_id|__request_start_time_ms__|__after_seconds__"
    r"|__pregel_node_finished)$"
)

# Prose is not compared: the servers word their error messages differently.
IGNORED_KEYS = frozenset({"detail"})


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """``["path: official X, callboard Y", ...]`` for every field that differs (empty when
    the answers match)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key in sorted(set(expected) | set(actual), key=str):
            if key in IGNORED_KEYS and not path.count("."):
                continue
            where = f"{path}.{key}" if path else str(key)
            if OFFICIAL_INTERNAL.search(re.sub(r"\[\d+\]", "", where)):
                continue
            if key not in actual:
                out.append(f"{where}: official {_short(expected[key])}, callboard has none")
            elif key not in expected:
                out.append(f"{where}: official has none, callboard {_short(actual[key])}")
            else:
                out += differences(expected[key], actual[key], where)
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        out = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out += differences(e, a, f"{path}[{i}]")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        return [f"{path}: official {len(expected)} items, callboard {len(actual)}"]
    if expected != actual:
        return [f"{path}: official {_short(expected)}, callboard {_short(actual)}"]
    return []


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
