"""Write requirements.txt: Callboard's runtime dependencies (pyproject.toml, without the test
extra) pinned at the versions installed in this venv, i.e. the ones CI tests, then ``.``.

``make requirements`` runs it. Which distributions belong to the runtime closure comes from
pip's resolver (``pip install --dry-run --report``, no install); their versions from this venv.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = """\
# Pinned runtime dependencies for a Python buildpack (Heroku, Scalingo, Dokku...): the versions
# CI tests with, then Callboard itself (pyproject.toml). Written by `make requirements`
# (scripts/pin_requirements.py) whenever pyproject.toml's dependencies change.
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed"]
            + ["--report", str(report), str(ROOT)],
            check=True,
        )
        names = {item["metadata"]["name"] for item in json.loads(report.read_text())["install"]}
    names.discard("callboard")
    pins = [f"{n}=={importlib.metadata.version(n)}" for n in sorted(names, key=str.lower)]
    (ROOT / "requirements.txt").write_text(HEADER + "\n".join(pins) + "\n.\n")
    print(f"requirements.txt: {len(pins)} pinned distributions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
