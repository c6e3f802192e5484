"""Celery client side of ``bench/compare.py`` (side venv): prints one JSON line.

    celery_client.py <runs> <clients> <sequential>

1. waits for the worker (``control.ping``);
2. throughput: ``clients`` threads each ``delay()`` their share of ``runs`` no-op tasks, then
   every result is collected with ``get()``; tasks/s = runs / (last result - first send);
3. sequential: ``delay().get()`` one at a time, ``sequential`` times: p50/p99 in seconds.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from celery_app import app, noop


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def main() -> None:
    runs, clients, sequential = (int(a) for a in sys.argv[1:4])
    deadline = time.monotonic() + 90
    while not app.control.ping(timeout=0.5):
        if time.monotonic() > deadline:
            raise SystemExit("celery worker did not answer ping")
    for i in range(20):  # warm-up: every prefork child imports and connects
        noop.delay({"i": i}).get(timeout=30)
    results: list = [None] * runs
    shares = [range(c, runs, clients) for c in range(clients)]

    def send(share: range) -> None:
        for i in share:
            results[i] = noop.delay({"i": i})

    t0 = time.perf_counter()
    threads = [threading.Thread(target=send, args=(s,)) for s in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        r.get(timeout=120)
    span = time.perf_counter() - t0
    latencies = []
    for i in range(sequential):
        t1 = time.perf_counter()
        noop.delay({"i": i}).get(timeout=30)
        latencies.append(time.perf_counter() - t1)
    print(
        json.dumps(
            {
                "runs": runs,
                "span_s": span,
                "per_s": runs / span,
                "seq_p50_s": percentile(latencies, 50),
                "seq_p99_s": percentile(latencies, 99),
            }
        )
    )


if __name__ == "__main__":
    main()
