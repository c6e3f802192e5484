"""The README's commands, verbatim, on a fresh clone and a fresh database.

Taken from README.md itself: the first command of "Two commands" (``make up``) and the two
quickstart blocks (curl, then the SDK). ``make up`` runs in the background, in its own process
group, on a clone of this repository (``git clone``: committed files only), with
``DATABASE_URL`` naming a database that does not exist yet (``make up`` creates it), ``REDIS_URL``
on the tests' own Redis DB and ``PORT`` a free port; once ``/ok`` answers, each quickstart block
runs as written and its printed output must be what the README's comments say. Then the group
is stopped and the database dropped.

Speed: ``VENV`` names the virtualenv this test runs from, so ``make up`` installs nothing when
it was installed from the same ``pyproject.toml`` (the Makefile's stamp); the code that runs is
the clone's (gunicorn and ``python -m`` put the working directory first on ``sys.path``).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import PG_ADMIN
from tests.support import ROOT, database_url_for, free_port, wait_for

pytestmark = pytest.mark.timeout(300)

VENV = Path(sys.prefix)


def fenced_blocks(markdown: str, section: str) -> list[tuple[str, str]]:
    """``[(language, code)]`` of the fenced blocks under the ``## section`` heading."""
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"README has no '## {section}' section"
    return re.findall(r"^```(\w*)\n(.*?)^```", match.group(1), re.M | re.S)


def readme_commands() -> tuple[str, str, str]:
    """(the first command of "Two commands", the curl block, the SDK block)."""
    readme = (ROOT / "README.md").read_text()
    (lang, two), *_ = fenced_blocks(readme, "Two commands")
    assert lang == "sh"
    first = two.splitlines()[0].split("#")[0].strip()
    blocks = fenced_blocks(readme, "Quickstart")
    curl = next(code for lang, code in blocks if lang == "sh")
    sdk = next(code for lang, code in blocks if lang == "python")
    return first, curl, sdk


def promised(code: str, starts: str) -> list[str]:
    """The outputs a block's comments promise, in order: the comment lines that start with
    ``starts`` (after ``# ``), without ``# `` and without a leading ``→``."""
    lines = [line.strip()[2:] for line in code.splitlines() if line.strip().startswith("# ")]
    return [line.removeprefix("→").strip() for line in lines if line.startswith(starts)]


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    clone = tmp_path / "callboard"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    # make up must find VENV installed from this very pyproject.toml, or it would install the
    # clone into the venv this test runs from
    assert (clone / "pyproject.toml").read_bytes() == (ROOT / "pyproject.toml").read_bytes(), (
        "commit pyproject.toml first: the clone must match the checkout the venv was built from"
    )
    return clone


@pytest.fixture
def fresh_database() -> Iterator[str]:
    name = f"cb_readme_{uuid.uuid4().hex[:12]}"
    yield database_url_for(PG_ADMIN, name)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ensure_venv_stamp() -> None:
    """Install this checkout into its own venv when its stamp is missing (``make
    install-test`` of ROOT: what CI's ``make test`` has just done), so the clone's ``make up``
    finds the venv installed."""
    digest = subprocess.run(
        ["sha1sum", "pyproject.toml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout[:12]
    if not (VENV / f".callboard-installed-{digest}").exists():
        subprocess.run(
            ["make", "install-test", f"VENV={VENV}"], cwd=ROOT, check=True, timeout=600
        )


def test_readme_commands_on_a_fresh_clone(
    fresh_clone: Path, fresh_database: str, redis_url: str, tmp_path: Path
) -> None:
    first, curl, sdk = readme_commands()
    assert first == "make up"
    ensure_venv_stamp()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "VENV": str(VENV),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "make-up.log"
    with open(log, "wb") as out:
        stack = subprocess.Popen(
            ["bash", "-c", first],
            cwd=fresh_clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def up() -> bool:
            if stack.poll() is not None:
                raise AssertionError(f"`{first}` exited {stack.returncode}:\n{log.read_text()}")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/ok", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=180, interval=0.2, what=f"/ok after `{first}`")

        shell = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", curl],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shell.returncode == 0, shell.stderr
        printed_sh = [line for line in shell.stdout.splitlines() if line.strip()]
        assert printed_sh == promised(curl, "→"), shell.stdout

        python = subprocess.run(
            [sys.executable, "-c", sdk],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert python.returncode == 0, python.stderr
        printed = [ast.literal_eval(line) for line in python.stdout.splitlines()]
        expected = [ast.literal_eval(line) for line in promised(sdk, "{")]
        assert printed == expected
        assert {"sha256": hashlib.sha256(b"hello").hexdigest(), "rounds": 1} in printed
    finally:
        try:
            os.killpg(stack.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            stack.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
    output = log.read_text()
    assert "web.1" in output and "worker.1" in output and "sweeper.1" in output
