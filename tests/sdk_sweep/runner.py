"""Run one sweep case against a server: ``run_case(name, kind, url)`` → ``{label: recorded
call}`` (``tests/sdk_sweep/harness.py``). The cases live in ``cases_*.py``."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from tests.sdk_sweep import cases_resources, cases_runs
from tests.sdk_sweep.harness import open_recorder

SWEEP = Path(__file__).resolve().parent
FIXTURES = SWEEP / "fixtures"
# every public function of the cases modules is a case, named after it
ALL_CASES: dict[str, Any] = {
    name: value
    for module in (cases_resources, cases_runs)
    for name, value in vars(module).items()
    if inspect.isfunction(value) and value.__module__ == module.__name__ and name[0] != "_"
}


def run_case(name: str, kind: str, url: str) -> dict[str, Any]:
    """The recorded calls of case ``name`` made with the ``kind`` client (``"sync"`` or
    ``"async"``) against ``url``."""
    with open_recorder(kind, url) as rec:
        ALL_CASES[name](rec, f"{name}-{kind}")
        return rec.calls
