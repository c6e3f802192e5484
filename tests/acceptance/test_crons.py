"""Crons end to end: the Procfile's ``web``, ``worker`` and two ``sweeper`` processes, driven
through the official ``langgraph_sdk`` clients.

Two sweepers race for every occurrence (each looks for due crons every 0.2 s,
``CRON_INTERVAL_SECONDS``): each occurrence must create exactly one run, and a worker must
execute it to success. Executions are counted from the ``ledger`` graph's file, independently of
the service's own bookkeeping.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import uuid
import zoneinfo
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from tests.support import Proc, Stack, executions, read_ledger, wait_for

pytestmark = pytest.mark.timeout(300)

UTC = datetime.UTC


def test_async_sdk_create_update_search_count_delete(stack: Stack) -> None:
    web = stack.web()

    async def scenario() -> None:
        async with get_client(url=web.url) as client:
            thread = (await client.threads.create())["thread_id"]
            on_thread = await client.crons.create_for_thread(
                thread, "noop", schedule="*/10 * * * *", input={"a": 1}, metadata={"k": "t"}
            )
            assert on_thread["thread_id"] == thread and on_thread["enabled"] is True
            next_date = datetime.datetime.fromisoformat(on_thread["next_run_date"])
            assert next_date.minute % 10 == 0 and next_date > datetime.datetime.now(UTC)
            stateless = await client.crons.create(
                "noop", schedule="0 12 * * 1-5", timezone="Europe/Paris", metadata={"k": "s"}
            )
            assert stateless["thread_id"] is None and stateless["on_run_completed"] == "delete"
            local = datetime.datetime.fromisoformat(stateless["next_run_date"]).astimezone(
                zoneinfo.ZoneInfo("Europe/Paris")
            )
            assert (local.hour, local.minute) == (12, 0) and local.isoweekday() <= 5

            found = await client.crons.search(metadata={"k": "s"}, select=["cron_id", "timezone"])
            assert found == [{"cron_id": stateless["cron_id"], "timezone": "Europe/Paris"}]
            assert [c["cron_id"] for c in await client.crons.search(thread_id=thread)] == [
                on_thread["cron_id"]
            ]
            assert await client.crons.count() == 2
            assert await client.crons.count(thread_id=thread) == 1

            updated = await client.crons.update(
                on_thread["cron_id"], enabled=False, metadata={"more": 1}
            )
            assert updated["enabled"] is False and updated["metadata"] == {"k": "t", "more": 1}
            assert [c["cron_id"] for c in await client.crons.search(enabled=False)] == [
                on_thread["cron_id"]
            ]

            with pytest.raises(UnprocessableEntityError):
                await client.crons.create("noop", schedule="not a schedule")
            with pytest.raises(UnprocessableEntityError):
                await client.crons.create("noop", schedule="* * * * *", timezone="Mars/Base")
            with pytest.raises(NotFoundError):
                await client.crons.create_for_thread(
                    str(uuid.uuid4()), "noop", schedule="* * * * *"
                )
            assert await client.crons.count() == 2

            await client.crons.delete(on_thread["cron_id"])
            with pytest.raises(NotFoundError):
                await client.crons.delete(on_thread["cron_id"])
            assert [c["cron_id"] for c in await client.crons.search()] == [stateless["cron_id"]]

    asyncio.run(scenario())


def _fired_lines(sweepers: list[Proc]) -> list[tuple[str, str]]:
    """``(cron_id, occurrence)`` of every "occurrence -> run" line the sweepers logged."""
    pattern = re.compile(r"cron '([0-9a-f-]+)': occurrence (\S+) -> run")
    return [m.groups() for proc in sweepers for m in pattern.finditer(proc.output())]


def _sweep_ticks(proc: Proc) -> int:
    return proc.output().count("sweep: SweepReport")


def _cron_runs(database_url: str, cron_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT run_id::text, status, output FROM runs "
            "WHERE kwargs->'config'->'configurable'->>'cron_id' = %s ORDER BY seq",
            (cron_id,),
        ).fetchall()
    return [{"run_id": r[0], "status": r[1], "output": r[2]} for r in rows]


def _sweepers_racing(conn: psycopg.Connection, due_at: datetime.datetime) -> bool:
    """One sweeper is inside its firing transaction, blocked on its INSERT INTO runs, and another
    backend has looked at the crons since they became due (``due_at``, database clock)."""
    rows = conn.execute(
        "SELECT pid, wait_event_type, query, query_start FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()
    inserting = {
        pid
        for pid, wait, query, _ in rows
        if wait == "Lock" and "insert into runs" in query.lower()
    }
    looked = {
        pid
        for pid, _, query, started in rows
        if started is not None and started >= due_at and "crons" in query.lower()
    }
    return bool(inserting) and bool(looked - inserting)


def _race_for_an_overdue_occurrence(database_url: str, cron_ids: list[str]) -> None:
    """Make the crons overdue (as after a sweeper outage) while the runs table is locked, so that
    the first sweeper to take them stops inside its transaction; release the lock only once
    another sweeper has also looked for due crons. Both sweepers are then in the race at once."""
    with (
        psycopg.connect(database_url) as holder,
        psycopg.connect(database_url, autocommit=True) as conn,
    ):
        holder.execute("LOCK TABLE runs IN EXCLUSIVE MODE")  # INSERT INTO runs waits
        due_at = conn.execute(
            "UPDATE crons SET next_run_date = now() - interval '5 minutes' "
            "WHERE cron_id = ANY(%s::uuid[]) RETURNING now()",
            (cron_ids,),
        ).fetchone()[0]
        wait_for(
            lambda: _sweepers_racing(conn, due_at), timeout=60, what="both sweepers in the race"
        )
        holder.rollback()  # releases the lock


def test_two_sweepers_fire_each_occurrence_once_and_the_runs_succeed(
    stack: Stack, ledger: Path
) -> None:
    web = stack.web()
    stack.worker()
    sweepers = [stack.sweeper(CRON_INTERVAL_SECONDS="0.2") for _ in range(2)]
    database_url = stack.settings.database_url

    with get_sync_client(url=web.url) as client:
        thread = client.threads.create()["thread_id"]
        on_thread = client.crons.create_for_thread(
            thread, "ledger", schedule="* * * * *", input={"echo": "thread"}
        )
        stateless = client.crons.create(
            "ledger", schedule="* * * * *", input={"echo": "stateless"}, on_run_completed="keep"
        )
        crons = {on_thread["cron_id"]: "thread", stateless["cron_id"]: "stateless"}

        def all_succeeded(expected_runs: int) -> bool:
            runs = [r for cron_id in crons for r in _cron_runs(database_url, cron_id)]
            # ">=": a duplicate run would fail the exact counts below, not time out here
            return len(runs) >= expected_runs and all(r["status"] == "success" for r in runs)

        # 1. the next minute boundary: both sweepers see both crons due at about the same time
        wait_for(lambda: all_succeeded(2), timeout=100, interval=0.5, what="first occurrence")
        # 2. a missed occurrence, both sweepers provably inside the race: fired once
        _race_for_an_overdue_occurrence(database_url, list(crons))
        wait_for(lambda: all_succeeded(4), timeout=60, interval=0.2, what="overdue occurrence")

        # let both sweepers tick several more times: a duplicate would show up now
        ticks = [_sweep_ticks(p) for p in sweepers]
        wait_for(
            lambda: all(_sweep_ticks(p) >= t + 3 for p, t in zip(sweepers, ticks, strict=True)),
            timeout=60,
            what="three more ticks of each sweeper",
        )

        for cron_id, echo in crons.items():
            runs = _cron_runs(database_url, cron_id)
            assert len(runs) == 2, runs
            assert [r["output"] for r in runs] == [{"ok": True, "echo": echo}] * 2
        assert [r["run_id"] for r in client.runs.list(thread)] == [
            r["run_id"] for r in reversed(_cron_runs(database_url, on_thread["cron_id"]))
        ]
        # the cron's next occurrence is in the future again
        for cron in client.crons.search():
            next_date = datetime.datetime.fromisoformat(cron["next_run_date"])
            assert next_date > datetime.datetime.now(UTC) - datetime.timedelta(seconds=1)

    # each run executed exactly once (the ledger graph's own record), and to its end
    started = executions(ledger)
    all_runs = [r["run_id"] for cron_id in crons for r in _cron_runs(database_url, cron_id)]
    assert sorted(started) == sorted(all_runs) and set(started.values()) == {1}
    ended = [run_id for run_id, _, _, event in read_ledger(ledger) if event == "end"]
    assert sorted(ended) == sorted(all_runs)
    # one "occurrence -> run" line per occurrence and cron, across both sweepers
    fired = _fired_lines(sweepers)
    assert len(fired) == 4 and len(set(fired)) == 4, fired
    assert {cron_id for cron_id, _ in fired} == set(crons)
