"""Section ``tasks`` of ``bench/compare.py``: the ``callboard`` client's ``@app.task`` no-op
(``bench/peers/callboard_tasks.py``, loaded by the server through the registry's ``"tasks"``
key) measured with the same calls and counts as Celery in ``bench/peers/celery_client.py``."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from e2e import percentile

PEERS = Path(__file__).resolve().parent / "peers"


def bench_tasks(base: str, runs: int, sequential: int, clients: int = 16) -> dict:
    """``cb_noop`` through the ``callboard`` client, measured as ``peers/celery_client.py``
    measures Celery: 20 warm-up calls; ``clients`` threads each ``.delay()`` their share of
    ``runs``, then every result is collected with ``.get()`` (tasks/s = runs / (last result -
    first send)); then ``delay().get()`` one at a time, ``sequential`` times (p50/p99 in s)."""
    if str(PEERS) not in sys.path:
        sys.path.insert(0, str(PEERS))
    from callboard_tasks import app, cb_noop

    app.url = base
    for i in range(20):
        cb_noop.delay({"i": i}).get(timeout=30)
    results: list[Any] = [None] * runs

    def send(share: range) -> None:
        for i in share:
            results[i] = cb_noop.delay({"i": i})

    t0 = time.perf_counter()
    threads = [
        threading.Thread(target=send, args=(range(c, runs, clients),)) for c in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, result in enumerate(results):
        if result.get(timeout=120) != {"i": i}:
            raise RuntimeError(f"task {result.id}: unexpected result")
    span = time.perf_counter() - t0
    latencies = []
    for i in range(sequential):
        t1 = time.perf_counter()
        cb_noop.delay({"i": i}).get(timeout=30)
        latencies.append(time.perf_counter() - t1)
    return {
        "per_s": runs / span,
        "seq_p50_s": percentile(latencies, 50),
        "seq_p99_s": percentile(latencies, 99),
    }
