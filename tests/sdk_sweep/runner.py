"""Run one sweep case against a server: ``run_case(name, kind, url)`` → ``{label: recorded
call}`` (``tests/sdk_sweep/harness.py``). The cases live in ``cases_*.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.sdk_sweep import cases_resources, cases_runs
from tests.sdk_sweep.harness import open_recorder

SWEEP = Path(__file__).resolve().parent
FIXTURES = SWEEP / "fixtures"
ALL_CASES: dict[str, Any] = {**cases_resources.CASES, **cases_runs.CASES}


def run_case(name: str, kind: str, url: str) -> dict[str, Any]:
    """The recorded calls of case ``name`` made with the ``kind`` client (``"sync"`` or
    ``"async"``) against ``url``."""
    with open_recorder(kind, url) as rec:
        ALL_CASES[name](rec, f"{name}-{kind}")
        return rec.calls
