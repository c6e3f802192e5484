"""Every configuration variable is read by ``app.config.Settings`` (issue 12, "Operations"):
one place lists, parses and validates them, and the rest of the code gets the values passed.
The new fields (crons, webhooks, worker queues) are parsed and refused with their name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.config import Settings
from app.errors import ConfigurationError
from app.webhooks import WebhookPolicy
from workers.__main__ import parse_queues

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "workers", "sweeper")

# (module, function) pairs that may touch os.environ / os.getenv, and why
ALLOWED = {
    # Settings.from_env is the one reader of the configuration
    ("app/config.py", "from_env"),
    # langgraph.json's "env" is written into the environment before Settings reads it
    ("app/deployment.py", "apply_env"),
    # `callboard dev` hands its whole environment to the processes it starts (no variable read)
    ("app/cli.py", "dev"),
}


def _environment_uses(tree: ast.AST) -> list[tuple[str, int]]:
    """(enclosing function, line) of each ``os.environ`` / ``os.getenv`` / ``environ`` use."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append((function, node.lineno))
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            names = {alias.name for alias in node.names}
            if names & {"environ", "getenv", "environb"}:
                found.append((function, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    return found


def test_no_module_but_settings_reads_the_environment():
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for function, line in _environment_uses(ast.parse(path.read_text(), relative)):
                if (relative, function) not in ALLOWED:
                    offenders.append(f"{relative}:{line} in {function}")
    assert offenders == [], "read configuration in app.config.Settings, then pass it on"


def test_the_scan_finds_environment_reads():
    # the scan above would catch the reads it forbids
    source = "import os\nfrom os import getenv\ndef f():\n    return os.environ.get('X')\n"
    assert _environment_uses(ast.parse(source)) == [("<module>", 2), ("f", 4)]


def test_cron_webhook_and_queue_defaults():
    s = Settings.from_env({})
    assert s.cron_interval_seconds == 10.0
    assert (s.webhook_allow_private, s.webhook_max_attempts) == (False, 10)
    assert (s.webhook_retry_seconds, s.webhook_timeout_seconds) == (5.0, 10.0)
    assert s.worker_queues == ()


def test_cron_webhook_and_queue_values_are_read_and_passed_on():
    s = Settings.from_env(
        {
            "CRON_INTERVAL_SECONDS": "0.25",
            "CALLBOARD_WEBHOOK_ALLOW_PRIVATE": "yes",
            "CALLBOARD_WEBHOOK_MAX_ATTEMPTS": "3",
            "CALLBOARD_WEBHOOK_RETRY_SECONDS": "0",
            "CALLBOARD_WEBHOOK_TIMEOUT_SECONDS": "1.5",
            "CALLBOARD_QUEUES": "fast, slow,fast,",
        }
    )
    assert s.cron_interval_seconds == 0.25
    assert WebhookPolicy.from_settings(s) == WebhookPolicy(
        max_attempts=3, retry_seconds=0.0, timeout_seconds=1.5, allow_private=True
    )
    assert s.worker_queues == ("fast", "slow")
    assert parse_queues([], s.worker_queues, "callboard") == ["fast", "slow"]
    assert parse_queues(["-Q", "other"], s.worker_queues, "callboard") == ["other"]
    assert parse_queues([], (), "callboard") == ["callboard"]


@pytest.mark.parametrize(
    "name, value",
    [
        ("CRON_INTERVAL_SECONDS", "0"),
        ("CRON_INTERVAL_SECONDS", "soon"),
        ("CALLBOARD_WEBHOOK_ALLOW_PRIVATE", "perhaps"),
        ("CALLBOARD_WEBHOOK_MAX_ATTEMPTS", "0"),
        ("CALLBOARD_WEBHOOK_MAX_ATTEMPTS", "2.5"),
        ("CALLBOARD_WEBHOOK_RETRY_SECONDS", "-1"),
        ("CALLBOARD_WEBHOOK_RETRY_SECONDS", "nan"),
        ("CALLBOARD_WEBHOOK_TIMEOUT_SECONDS", "0.01"),
        ("CALLBOARD_WEBHOOK_TIMEOUT_SECONDS", "fast"),
    ],
)
def test_bad_cron_and_webhook_values_are_refused_with_their_name(name, value):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})
