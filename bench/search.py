#!/usr/bin/env python
"""Search and count at scale: the queries behind ``POST /threads/search``, ``/threads/count``,
``/assistants/search``, ``/assistants/count``, ``GET /threads/{id}/runs`` and
``/runs/crons/search``/``count`` on 100,000 threads, timed with ``EXPLAIN ANALYZE``.

One invocation, on this machine:

1. a fresh database ``cb_bench_<random>`` with every migration applied, filled with
   ``generate_series``: ``--threads`` threads (statuses 90 % idle, 5 % interrupted, 4 % busy,
   1 % error; metadata ``{"user": 1 of 1,000, "tenant": 1 of 10, "n": unique}``; creation
   times spread over days), ``--assistants`` assistants (5 graphs, metadata ``{"team": 1 of
   100}``), 10 runs on each of the first ``--threads // 10`` threads, ``--crons`` crons; then
   ``VACUUM ANALYZE``;
2. each case calls the application's own store function (``app.store.threads.search`` …) on
   a ``Database`` whose ``fetch`` runs the exact SQL under ``EXPLAIN (ANALYZE, BUFFERS)``
   ``--repeat`` times (the median is reported) with the app's session setting
   (``plan_cache_mode=force_custom_plan``);
3. the write cost: the thread updates of ``--writes`` run lifecycles (the three single-row
   UPDATEs that creating, claiming and finishing a run make), in µs per run;
4. the same cases and writes again after dropping the indexes of
   ``migrations/0005_search_indexes.sql``, to show what they buy and what they cost;
5. a report (time in ms, rows, the plan's scans) on stdout and as JSON in ``bench/results/``.
   The database is dropped at the end.

Not a test: nothing is asserted. The machine is shared (2 cores); repeat before concluding.

    .venv/bin/python bench/search.py [--threads 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.store import assistants as assistant_store  # noqa: E402
from app.store import crons as cron_store  # noqa: E402
from app.store import runs as run_store  # noqa: E402
from app.store import threads as thread_store  # noqa: E402
from app.store.db import QUERIES, Database  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
INDEX_MIGRATION = ROOT / "migrations" / "0005_search_indexes.sql"

FILL = """
INSERT INTO threads (thread_id, status, metadata, "values", created_at, updated_at,
                     state_updated_at)
SELECT gen_random_uuid(),
       CASE WHEN i %% 100 = 0 THEN 'error' WHEN i %% 100 < 5 THEN 'busy'
            WHEN i %% 100 < 10 THEN 'interrupted' ELSE 'idle' END,
       jsonb_build_object('user', 'u' || (i %% 1000), 'tenant', 't' || (i %% 10), 'n', i),
       jsonb_build_object('step', i %% 50),
       now() - make_interval(secs => i * 7),
       now() - make_interval(secs => (i * 7919) %% %(threads)s),
       now() - make_interval(secs => i * 7)
FROM generate_series(1, %(threads)s) AS i;

INSERT INTO assistants (assistant_id, graph_id, name, metadata, created_at, updated_at)
SELECT gen_random_uuid(), 'graph' || (i %% 5), 'assistant-' || i,
       jsonb_build_object('team', 'team' || (i %% 100)),
       now() - make_interval(secs => i), now() - make_interval(secs => i)
FROM generate_series(1, %(assistants)s) AS i;

INSERT INTO runs (run_id, thread_id, assistant_id, graph_id, status, metadata, created_at,
                  updated_at, ended_at)
SELECT gen_random_uuid(), t.thread_id, '00000000-0000-0000-0000-000000000001', 'graph0',
       CASE WHEN r %% 10 = 0 THEN 'error' ELSE 'success' END,
       jsonb_build_object('r', r), t.created_at, t.created_at, t.created_at
FROM (SELECT thread_id, created_at FROM threads ORDER BY created_at LIMIT %(threads)s / 10) t,
     generate_series(1, 10) AS r;

INSERT INTO crons (cron_id, assistant_id, schedule, metadata, next_run_date, created_at,
                   updated_at)
SELECT gen_random_uuid(), a.assistant_id, '*/5 * * * *',
       jsonb_build_object('job', 'j' || (a.n %% 50)), now() + interval '1 hour',
       a.created_at, a.created_at
FROM (SELECT assistant_id, created_at, row_number() OVER () AS n FROM assistants) a,
     generate_series(1, greatest(1, %(crons)s / %(assistants)s)) AS k;
"""


class ExplainingDatabase(Database):
    """A ``Database`` whose ``fetch`` also runs the statement under ``EXPLAIN ANALYZE``
    ``repeat`` times and records the median execution time and the plan of the last run."""

    def __init__(self, url: str, repeat: int) -> None:
        super().__init__(url, min_size=1, max_size=2)
        self.repeat = repeat
        self.last: dict[str, Any] = {}

    def fetch(self, name: str, params: dict[str, Any] | None = None, **fmt: str) -> list[dict]:
        sql = QUERIES[name].format(**fmt) if fmt else QUERIES[name]
        times, plan = [], None
        with self.connection() as conn:
            for _ in range(self.repeat):
                row = conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params or {}
                ).fetchone()
                assert row is not None
                plan = row["QUERY PLAN"][0]
                times.append(plan["Planning Time"] + plan["Execution Time"])
            rows = conn.execute(sql, params or {}).fetchall()
        assert plan is not None
        self.last = {
            "query": name,
            "ms": statistics.median(times),
            "rows": len(rows) if name.startswith(("search", "list")) else rows[0]["count"],
            "scans": _scans(plan["Plan"]),
            "shared_buffers": plan["Plan"].get("Shared Hit Blocks", 0)
            + plan["Plan"].get("Shared Read Blocks", 0),
        }
        return rows


def _scans(node: dict[str, Any]) -> list[str]:
    """The plan's scan and sort nodes, outermost first (``Index Scan threads_search_created``)."""
    found = []
    kind = node["Node Type"]
    if "Scan" in kind or kind in ("Sort", "Incremental Sort"):
        target = node.get("Index Name") or node.get("Relation Name") or ""
        if kind == "Sort":
            target = node.get("Sort Method", "")
        found.append(f"{kind} {target}".strip())
    for child in node.get("Plans", []):
        found += _scans(child)
    return found


def cases(sample: dict[str, Any]) -> list[tuple[str, Callable[[Database], Any]]]:
    """(label, call) for every query shape the API can send."""
    t, a, r, c = thread_store, assistant_store, run_store, cron_store
    ids = sample["thread_ids"]
    return [
        ("threads: search, newest first", lambda db: t.search(db)),
        ("threads: search, oldest first", lambda db: t.search(db, sort_order="asc")),
        ("threads: search, by updated_at", lambda db: t.search(db, sort_by="updated_at")),
        ("threads: search, by status", lambda db: t.search(db, sort_by="status")),
        (
            "threads: search, by state_updated_at",
            lambda db: t.search(db, sort_by="state_updated_at"),
        ),
        ("threads: search, page at offset 5000", lambda db: t.search(db, offset=5000)),
        ("threads: search, 100 per page", lambda db: t.search(db, limit=100)),
        ("threads: metadata user (0.1 %)", lambda db: t.search(db, metadata={"user": "u42"})),
        ("threads: metadata tenant (10 %)", lambda db: t.search(db, metadata={"tenant": "t3"})),
        ("threads: metadata unique", lambda db: t.search(db, metadata={"n": 77_777})),
        ("threads: metadata no match", lambda db: t.search(db, metadata={"user": "nobody"})),
        ("threads: status error (1 %)", lambda db: t.search(db, status="error")),
        ("threads: status idle (90 %)", lambda db: t.search(db, status="idle")),
        (
            "threads: status error + tenant",
            lambda db: t.search(db, status="error", metadata={"tenant": "t3"}),
        ),
        (
            "threads: status busy, by updated_at",
            lambda db: t.search(db, status="busy", sort_by="updated_at"),
        ),
        ("threads: 10 ids", lambda db: t.search(db, ids=ids)),
        ("threads: count all", lambda db: t.count(db)),
        ("threads: count metadata user", lambda db: t.count(db, metadata={"user": "u42"})),
        ("threads: count metadata tenant", lambda db: t.count(db, metadata={"tenant": "t3"})),
        ("threads: count status error", lambda db: t.count(db, status="error")),
        ("threads: count status idle", lambda db: t.count(db, status="idle")),
        ("assistants: search, newest first", lambda db: a.search(db)),
        ("assistants: graph_id", lambda db: a.search(db, graph_id="graph3")),
        ("assistants: metadata team", lambda db: a.search(db, metadata={"team": "team7"})),
        ("assistants: name contains", lambda db: a.search(db, name="ant-4242")),
        ("assistants: count graph_id", lambda db: a.count(db, graph_id="graph3")),
        ("assistants: count all", lambda db: a.count(db)),
        (
            "runs: list of a thread",
            lambda db: r.list_for_thread(db, sample["run_thread"], status=None, limit=10, offset=0),
        ),
        (
            "runs: list of a thread, status",
            lambda db: r.list_for_thread(
                db, sample["run_thread"], status="error", limit=10, offset=0
            ),
        ),
        ("crons: search, newest first", lambda db: c.search(db)),
        ("crons: assistant", lambda db: c.search(db, assistant_id=sample["assistant_id"])),
        ("crons: metadata", lambda db: c.search(db, metadata={"job": "j7"})),
        ("crons: count all", lambda db: c.count(db)),
    ]


def measure(db: ExplainingDatabase, sample: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    for label, call in cases(sample):
        call(db)
        results.append({"case": label, **db.last})
    return results


# the thread updates of one run's lifecycle (insert_run, claim_run, finish_run in
# app/store/queries.sql), as single autocommit statements
LIFECYCLE = (
    "UPDATE threads SET metadata = metadata || %(meta)s, updated_at = now()"
    " WHERE thread_id = %(t)s",
    "UPDATE threads SET status = 'busy', updated_at = now() WHERE thread_id = %(t)s",
    "UPDATE threads SET status = 'idle', \"values\" = %(values)s, interrupts = '{}',"
    " error = NULL, updated_at = now(), state_updated_at = now() WHERE thread_id = %(t)s",
)


def write_cost(url: str, thread_ids: list[Any]) -> dict[str, float]:
    """The thread updates of one run's lifecycle (3 statements) on each of ``thread_ids``, in
    one transaction (index and heap work, not commit latency, which is the same either way):
    µs per run, and the share of HOT updates (no index touched) from ``pg_stat_user_tables``."""
    import psycopg
    from psycopg.types.json import Jsonb

    def counters(conn: Any) -> tuple[int, int]:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'threads'"
        ).fetchone()
        return int(row[0]), int(row[1])

    with psycopg.connect(url, autocommit=True) as conn:
        upd0, hot0 = counters(conn)
        t0 = time.perf_counter()
        with conn.transaction():
            for i, thread_id in enumerate(thread_ids):
                params = {
                    "t": thread_id,
                    "meta": Jsonb({"graph_id": "graph0"}),
                    "values": Jsonb({"step": i}),
                }
                for statement in LIFECYCLE:
                    conn.execute(statement, params)
        elapsed = time.perf_counter() - t0
        wait_until = time.monotonic() + 5  # the statistics collector reports with a delay
        upd, hot = counters(conn)
        while upd - upd0 < len(thread_ids) * len(LIFECYCLE) and time.monotonic() < wait_until:
            time.sleep(0.2)
            upd, hot = counters(conn)
    return {
        "us_per_run": elapsed / len(thread_ids) * 1e6,
        "hot_percent": 100 * (hot - hot0) / max(upd - upd0, 1),
    }


def _one(conn: Any, sql: str) -> Any:
    row = conn.execute(sql).fetchone()
    assert row is not None, sql
    return row[0]


def _drop(url: str, indexes: list[str]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for index in indexes:
            conn.execute(f'DROP INDEX IF EXISTS "{index}"')
        conn.execute("VACUUM ANALYZE threads, assistants")


def _create(url: str) -> None:
    import psycopg

    statements = re.findall(r"CREATE INDEX[^;]+;", INDEX_MIGRATION.read_text())
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.execute("VACUUM ANALYZE threads, assistants")


def index_names(path: Path) -> list[str]:
    if not path.exists():
        return []
    return re.findall(r"CREATE INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?(\w+)", path.read_text())


def report(with_idx: list[dict[str, Any]], without: list[dict[str, Any]] | None) -> None:
    print(f"\n{'case':<40} {'ms':>8} {'without':>8} {'rows':>7}  plan (with the 0005 indexes)")
    for i, row in enumerate(with_idx):
        before = f"{without[i]['ms']:8.2f}" if without else f"{'':>8}"
        scans = ", ".join(row["scans"])
        print(f"{row['case']:<40} {row['ms']:8.2f} {before} {row['rows']:>7}  {scans}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=100_000)
    parser.add_argument("--assistants", type=int, default=10_000)
    parser.add_argument("--crons", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="EXPLAIN ANALYZE runs per case")
    parser.add_argument(
        "--writes", type=int, default=2000, help="run lifecycles for the write cost"
    )
    parser.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    import psycopg

    from migrations import apply_all
    from tests.support import database_url_for

    name = f"cb_bench_{secrets.token_hex(4)}"
    url = database_url_for(args.pg_admin, name)
    with psycopg.connect(args.pg_admin, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    db: ExplainingDatabase | None = None
    try:
        apply_all(url)
        t0 = time.monotonic()
        with psycopg.connect(url, autocommit=True) as conn:
            with conn.transaction():
                for statement in FILL.split(";\n\n"):
                    conn.execute(statement, vars(args))
            conn.execute("VACUUM ANALYZE")
            thread_ids = [
                r[0] for r in conn.execute("SELECT thread_id FROM threads LIMIT 10").fetchall()
            ]
            run_thread = _one(conn, "SELECT thread_id FROM runs LIMIT 1")
            assistant_id = _one(conn, "SELECT assistant_id FROM crons LIMIT 1")
            sizes: dict[str, int] = dict(
                conn.execute(
                    "SELECT relname, n_live_tup FROM pg_stat_user_tables"
                    " WHERE relname IN ('threads', 'assistants', 'runs', 'crons')"
                ).fetchall()
            )
        print(f"filled in {time.monotonic() - t0:.1f} s: {sizes}")
        sample: dict[str, Any] = {
            "thread_ids": [uuid.UUID(str(i)) for i in thread_ids],
            "run_thread": run_thread,
            "assistant_id": assistant_id,
        }
        with psycopg.connect(url, autocommit=True) as conn:
            writes = [
                r[0]
                for r in conn.execute(
                    "SELECT thread_id FROM threads ORDER BY random() LIMIT %s", (args.writes,)
                ).fetchall()
            ]
        db = ExplainingDatabase(url, args.repeat)
        with_idx = measure(db, sample)
        dropped = index_names(INDEX_MIGRATION)
        without = None
        # writes alternate with and without the indexes (twice each; the best is kept), as the
        # machine's other load comes and goes
        write_with = [write_cost(url, writes)]
        write_without: list[dict[str, float]] = []
        if dropped:
            for rebuild in (True, False):
                _drop(url, dropped)
                if without is None:
                    without = measure(db, sample)
                write_without.append(write_cost(url, writes))
                if rebuild:
                    _create(url)
                    write_with.append(write_cost(url, writes))
        report(with_idx, without)
        best_with = min(write_with, key=lambda w: w["us_per_run"])
        print(
            f"\nthread updates of one run (3 statements, one transaction), {args.writes} runs: "
            f"{best_with['us_per_run']:.0f} µs ({best_with['hot_percent']:.0f} % HOT) with the "
            "0005 indexes"
        )
        if write_without:
            best = min(write_without, key=lambda w: w["us_per_run"])
            print(f"{'':>54}{best['us_per_run']:.0f} µs ({best['hot_percent']:.0f} % HOT) without")
        if dropped:
            print(f"'without': after DROP INDEX {', '.join(dropped)}")
    finally:
        if db is not None:
            db.close()
        with psycopg.connect(args.pg_admin, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"search-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "sizes": sizes,
                "with": with_idx,
                "without": without,
                "lifecycle_us": {"with": write_with, "without": write_without},
            },
            indent=2,
            default=str,
        )
    )
    print(f"saved {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
