"""``/dashboard`` in a real headless browser (Debian's chromium) against a live stack: what it
shows, and a screenshot (``bench/results/dashboard.png``, or ``CALLBOARD_DASHBOARD_SCREENSHOT``).

Chromium is started with every background network feature off and only ever loads 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import httpx
import psycopg

from tests import ops_scenario
from tests.support import ROOT, wait_for

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
]
SCREENSHOT = Path(
    os.environ.get("CALLBOARD_DASHBOARD_SCREENSHOT") or ROOT / "bench" / "results" / "dashboard.png"
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium is not installed (.ci/run installs Debian's chromium package)"
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    done = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


class Rows(HTMLParser):
    """Text of each table row, by the row's id and classes."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[dict[str, str | None], str]] = []
        self.figures: dict[str, str] = {}
        self._row: tuple[dict[str, str | None], list[str]] | None = None
        self._figure: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._row = (dict(attrs), [])
        if tag == "span" and dict(attrs).get("class") == "figure":
            self._figure = dict(attrs).get("id")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row:
            attrs, text = self._row
            self.rows.append((attrs, " ".join(t for t in text if t.strip())))
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self._row[1].append(data.strip())
        if self._figure:
            self.figures[self._figure] = data.strip()
            self._figure = None

    def row(self, **attrs: str) -> str:
        for row_attrs, text in self.rows:
            if all(attrs[k] in (row_attrs.get(k) or "") for k in attrs):
                return text
        raise AssertionError(f"no row with {attrs}")


def test_dashboard_in_a_headless_browser(stack, settings, tmp_path):
    web = stack.web()
    with httpx.Client(base_url=web.url, timeout=30) as http:

        def post(path, body):
            response = http.post(path, json=body)
            assert response.status_code == 200, response.text
            return response.json()

        # before any worker: two runs claimed by hand (one lapses), two pending
        scenario = ops_scenario.build(
            post, settings.database_url, settings.redis_url, settings.heartbeat_seconds
        )
        worker = stack.worker()
        def start(graph: str, **input: object) -> dict:
            body = {"assistant_id": graph, "input": input, "on_completion": "keep"}
            return post("/runs", body)

        done = [start("noop")["run_id"] for _ in range(5)]
        failed = start("ticker", count=1, fail="boom")
        long = start("ticker", count=120, interval=1)

        def status(run_id: str) -> str:
            with psycopg.connect(settings.database_url) as conn:
                row = conn.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
                return row.fetchone()[0]

        wait_for(lambda: all(status(r) == "success" for r in done + scenario.pending),
                 timeout=60, what="noop runs")  # fmt: skip
        wait_for(lambda: status(failed["run_id"]) == "error", timeout=60, what="failed run")
        wait_for(lambda: status(long["run_id"]) == "running", timeout=60, what="long run")

    with psycopg.connect(settings.database_url) as conn:
        (worker_id,) = conn.execute(
            "SELECT worker_id FROM runs WHERE run_id = %s", (long["run_id"],)
        ).fetchone()

    page = chromium(tmp_path, "--dump-dom", f"{web.url}/dashboard").stdout
    dom = Rows()
    dom.feed(page)
    assert dom.figures["count-success"] == "7" and dom.figures["count-error"] == "1"
    assert dom.figures["count-running"] == "3"
    assert dom.figures["queue-depth"] == "0"
    assert dom.figures["due-crons"] == "1" and dom.figures["webhook-backlog"] == "1"
    # the live run, under its worker, with a fresh heartbeat
    assert f'data-worker="{worker_id}"' in page
    live = dom.row(id=f"running-{long['run_id']}")
    age = float(re.search(r"([\d.]+) s$", live).group(1))
    assert 0 <= age <= settings.heartbeat_seconds and "lapsed" not in live
    assert "none — lapsed" in dom.row(id=f"running-{scenario.lapsed}")
    assert "RuntimeError: boom" in dom.row(**{"class": "failure"})
    assert "*/5 * * * *" in dom.row(**{"class": "cron due"})
    assert "https://hooks.example/run-ended" in dom.row(**{"class": "webhook"})
    bars = re.findall(r'<rect class="bar"[^>]*data-ended="(\d+)"', page)
    assert sum(int(n) for n in bars) == 8  # 7 successes and 1 error, all in the last minutes
    assert '<svg id="latency-chart"' in page and "<polyline" in page

    # a filter, as a user would follow the "error" card's link
    errors = chromium(tmp_path, "--dump-dom", f"{web.url}/dashboard?status=error").stdout
    assert re.findall(r'data-status="(\w+)"', errors) == ["error"]

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    chromium(tmp_path, f"--screenshot={SCREENSHOT}", "--window-size=1280,1400",
             f"{web.url}/dashboard")  # fmt: skip
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert worker.alive()
