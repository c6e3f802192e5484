"""Crons on a real Postgres and Redis: the API (through the official sync SDK over a WSGI
transport, and the Flask test client for bad input), the schedule arithmetic, and the sweeper's
``fire_due_crons`` called directly with a chosen ``now``.

"Time passes" by choosing ``now``, never by sleeping. Expected next dates are written out by
hand (or computed here with ``zoneinfo``), not with the code under test.
"""

from __future__ import annotations

import datetime
import socket
import threading
import typing
import uuid
import zoneinfo
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk import schema as sdk_schema
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from app.config import Settings
from app.crons import InvalidSchedule, InvalidTimezone, Schedule
from app.errors import ConfigurationError
from app.notify import make_redis
from app.queue import declare_execute_run, make_broker
from app.store import crons as cron_store
from app.store.assistants import default_assistant_id
from app.store.db import Database
from sweeper.crons import fire_due_crons
from tests.integration.run_helpers import drain, queued, sql
from workers.actors.execute_run import execute_run

UTC = datetime.UTC
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
MINUTE = datetime.timedelta(minutes=1)
SECOND = datetime.timedelta(seconds=1)
MISSING = "2f0b5d7e-0c7e-4c4e-9a59-6a1b8d3c0e11"


def utc(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def required_keys(typed_dict: type) -> set[str]:
    hints = typing.get_type_hints(typed_dict, include_extras=True)
    return {k for k, v in hints.items() if typing.get_origin(v) is not typing.NotRequired}


def parse_ts(value: str | None) -> datetime.datetime | None:
    if value is None:
        return None
    parsed = datetime.datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def assert_cron(body: Any) -> None:
    """``body`` has the shape of ``langgraph_sdk.schema.Cron``."""
    assert set(body) == required_keys(sdk_schema.Cron), set(body) ^ required_keys(sdk_schema.Cron)
    assert uuid.UUID(body["cron_id"]) and uuid.UUID(body["assistant_id"])
    assert body["thread_id"] is None or uuid.UUID(body["thread_id"])
    assert isinstance(body["schedule"], str) and isinstance(body["payload"], dict)
    assert isinstance(body["metadata"], dict) and isinstance(body["enabled"], bool)
    assert body["on_run_completed"] in (None, "delete", "keep")
    for key in ("created_at", "updated_at"):
        assert parse_ts(body[key])
    for key in ("end_time", "next_run_date"):
        parse_ts(body[key])


def crons_fingerprint(database_url: str) -> tuple:
    """Every row of crons, runs and threads, hashed: equal before and after = nothing written."""
    with psycopg.connect(database_url) as conn:
        return tuple(
            conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) "
                f"FROM {table} t"
            ).fetchone()
            for table in ("crons", "runs", "threads", "assistants")
        )


def next_local(after: datetime.datetime, hour: int, tz: zoneinfo.ZoneInfo) -> datetime.datetime:
    """The first ``hour``:00 wall-clock time in ``tz`` strictly after ``after`` (in UTC)."""
    local = after.astimezone(tz)
    for days in range(3):
        day = local.date() + datetime.timedelta(days=days)
        candidate = datetime.datetime(day.year, day.month, day.day, hour, tzinfo=tz)
        if candidate > after:
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable")


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def db(settings) -> Iterator[Database]:
    database = Database(settings.database_url, max_size=12)
    yield database
    database.close()


@pytest.fixture
def rclient(settings):
    client = make_redis(settings.redis_url)
    yield client
    client.close()


@pytest.fixture
def actor(settings):
    broker = make_broker(settings)
    yield declare_execute_run(broker, queue_name=settings.queue_name)
    broker.close()


@pytest.fixture
def sdk(app) -> Iterator[SyncLangGraphClient]:
    """The official sync client, talking to the Flask app through a WSGI transport."""
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://callboard")
    with SyncLangGraphClient(http) as client:
        yield client


@pytest.fixture
def thread_id(client) -> str:
    return client.post("/threads", json={}).get_json()["thread_id"]


def make_cron(client, thread: str | None = None, **body: Any) -> dict:
    body.setdefault("assistant_id", "ledger")
    body.setdefault("schedule", "* * * * *")
    path = f"/threads/{thread}/runs/crons" if thread else "/runs/crons"
    resp = client.post(path, json=body)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def runs_of(db: Database, cron_id: str) -> list[dict]:
    return sql(
        db,
        "SELECT * FROM runs WHERE kwargs->'config'->'configurable'->>'cron_id' = %(c)s "
        "ORDER BY seq",
        {"c": cron_id},
    )


def cron_row(db: Database, cron_id: str) -> dict:
    row = cron_store.get(db, uuid.UUID(cron_id))
    assert row is not None
    return row


# --- the schedule -----------------------------------------------------------------------------

SAT_EVENING = utc(2026, 11, 21, 21, 14, 39)  # a Saturday


@pytest.mark.parametrize(
    ("expression", "timezone", "after", "expected"),
    [
        ("* * * * *", None, SAT_EVENING, utc(2026, 11, 21, 21, 15)),
        ("*/5 * * * *", None, SAT_EVENING, utc(2026, 11, 21, 21, 15)),
        # strictly after: an occurrence at exactly ``after`` is not the next one
        ("*/5 * * * *", None, utc(2026, 11, 21, 21, 15), utc(2026, 11, 21, 21, 20)),
        ("@hourly", None, SAT_EVENING, utc(2026, 11, 21, 22, 0)),
        ("@daily", None, SAT_EVENING, utc(2026, 11, 22, 0, 0)),
        # day of week counts from Sunday = 0 (and 7), as crontab(5)
        ("0 9 * * 0", None, SAT_EVENING, utc(2026, 11, 22, 9, 0)),
        ("0 9 * * 7", None, SAT_EVENING, utc(2026, 11, 22, 9, 0)),
        ("0 9 * * sun", None, SAT_EVENING, utc(2026, 11, 22, 9, 0)),
        ("0 9 * * 1-5", None, SAT_EVENING, utc(2026, 11, 23, 9, 0)),
        ("0 9 * * MON-FRI", None, SAT_EVENING, utc(2026, 11, 23, 9, 0)),
        ("0 9 * * */2", None, SAT_EVENING, utc(2026, 11, 22, 9, 0)),  # sun, tue, thu, sat
        ("0 9 * * 6", None, utc(2026, 11, 20, 12, 0), utc(2026, 11, 21, 9, 0)),  # Saturday
        # day of month and day of week both restricted: either matches (Friday 27th here)
        ("0 9 13 * 5", None, SAT_EVENING, utc(2026, 11, 27, 9, 0)),
        ("0 9 1 jan *", None, SAT_EVENING, utc(2027, 1, 1, 9, 0)),
        # read in a time zone, across the start of daylight saving time (14 March 2027 in
        # New York): 09:00 EST is 14:00 UTC, 09:00 EDT is 13:00 UTC
        ("0 9 * * *", "America/New_York", utc(2027, 3, 13, 10, 0), utc(2027, 3, 13, 14, 0)),
        ("0 9 * * *", "America/New_York", utc(2027, 3, 13, 14, 0), utc(2027, 3, 14, 13, 0)),
        ("0 9 * * *", "UTC", utc(2027, 3, 13, 14, 0), utc(2027, 3, 14, 9, 0)),
        ("30 8 * * *", "Asia/Kolkata", utc(2026, 11, 21, 0, 0), utc(2026, 11, 21, 3, 0)),
        # 02:30 does not exist on 14 March 2027 in New York: Debian cron fires at 03:00 EDT
        ("30 2 * * *", "America/New_York", utc(2027, 3, 13, 8, 0), utc(2027, 3, 14, 7, 0)),
        # the extensions croniter and cronsim share: last day of the month, second Monday
        ("0 9 L * *", None, SAT_EVENING, utc(2026, 11, 30, 9, 0)),
        ("0 9 * * 1#2", None, SAT_EVENING, utc(2026, 12, 14, 9, 0)),
    ],
)
def test_next_occurrence(expression, timezone, after, expected):
    assert Schedule.parse(expression, timezone).next_after(after) == expected


def test_the_table_above_names_the_right_weekdays():
    # the expectations above rely on these calendar facts
    assert SAT_EVENING.strftime("%A") == "Saturday"
    assert utc(2026, 11, 27).strftime("%A") == "Friday"
    assert NEW_YORK.utcoffset(datetime.datetime(2027, 3, 13, 12)) == datetime.timedelta(hours=-5)
    assert NEW_YORK.utcoffset(datetime.datetime(2027, 3, 14, 12)) == datetime.timedelta(hours=-4)


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "bad cron",
        "* * * *",
        "0 * * * * *",  # six fields (seconds) are not standard
        "60 * * * *",
        "* 24 * * *",
        "* * 32 * *",
        "* * * 13 *",
        "* * * * 8",
        "* * * * fri-mon",
        "*/0 * * * *",
        "5-1 * * * *",
        "L * * * *",
        "@reboot",
        "0 0 31 2 *",  # February 31st never comes
        "1,,2 * * * *",
    ],
)
def test_bad_expressions_are_refused(expression):
    with pytest.raises(InvalidSchedule):
        Schedule.parse(expression)


@pytest.mark.parametrize("timezone", ["", "Mars/Base", "America", "../etc/passwd", "EST5EDT6"])
def test_bad_timezones_are_refused(timezone):
    with pytest.raises(InvalidTimezone):
        Schedule.parse("* * * * *", timezone)


def test_cron_interval_setting():
    assert Settings.from_env({}).cron_interval_seconds == 10.0
    assert Settings.from_env({"CRON_INTERVAL_SECONDS": "0.5"}).cron_interval_seconds == 0.5
    for bad in ("0", "-1", "soon"):
        with pytest.raises(ConfigurationError, match="CRON_INTERVAL_SECONDS"):
            Settings.from_env({"CRON_INTERVAL_SECONDS": bad})


# --- the API through the official sync client -------------------------------------------------


def test_sdk_sync_create_get_update_search_count_delete(sdk, app, database_url):
    ledger_id = str(default_assistant_id("ledger"))
    noop_id = str(default_assistant_id("noop"))
    thread = sdk.threads.create()["thread_id"]

    before = datetime.datetime.now(UTC)
    on_thread = sdk.crons.create_for_thread(
        thread,
        "ledger",
        schedule="0 9 * * *",
        timezone="America/New_York",
        input={"echo": 1},
        metadata={"team": "a"},
        config={"tags": ["t"]},
        multitask_strategy="enqueue",
    )
    after = datetime.datetime.now(UTC)
    assert_cron(on_thread)
    assert on_thread["thread_id"] == thread and on_thread["assistant_id"] == ledger_id
    assert on_thread["on_run_completed"] is None and on_thread["enabled"] is True
    assert on_thread["timezone"] == "America/New_York" and on_thread["end_time"] is None
    assert parse_ts(on_thread["next_run_date"]) in {
        next_local(before, 9, NEW_YORK),
        next_local(after, 9, NEW_YORK),
    }
    assert on_thread["payload"]["input"] == {"echo": 1}
    assert on_thread["payload"]["assistant_id"] == ledger_id
    assert on_thread["payload"]["config"] == {
        "tags": ["t"],
        "configurable": {"cron_id": on_thread["cron_id"]},
    }
    assert on_thread["metadata"] == {"team": "a"}

    end = datetime.datetime(2031, 1, 1, tzinfo=UTC)
    stateless = sdk.crons.create(
        "noop",
        schedule="*/5 * * * *",
        input={"x": 1},
        metadata={"team": "b"},
        end_time=end,
        on_run_completed="keep",
        enabled=False,
    )
    assert_cron(stateless)
    assert stateless["thread_id"] is None and stateless["assistant_id"] == noop_id
    assert stateless["on_run_completed"] == "keep" and stateless["enabled"] is False
    assert parse_ts(stateless["end_time"]) == end
    assert parse_ts(stateless["next_run_date"]).minute % 5 == 0
    default = sdk.crons.create("noop", schedule="@hourly")
    assert default["on_run_completed"] == "delete" and default["enabled"] is True
    assert default["timezone"] is None

    # get (the official server has GET /runs/crons/{id}; the SDK does not call it)
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://callboard")
    with http:
        assert http.get(f"/runs/crons/{on_thread['cron_id']}").json() == on_thread

    # search: filters, sort, select, paging
    everything = sdk.crons.search()
    assert [c["cron_id"] for c in everything] == [
        default["cron_id"],
        stateless["cron_id"],
        on_thread["cron_id"],
    ]  # newest first by default
    assert [c["cron_id"] for c in sdk.crons.search(thread_id=thread)] == [on_thread["cron_id"]]
    assert {c["cron_id"] for c in sdk.crons.search(assistant_id="noop")} == {
        stateless["cron_id"],
        default["cron_id"],
    }
    assert [c["cron_id"] for c in sdk.crons.search(assistant_id=ledger_id)] == [
        on_thread["cron_id"]
    ]
    assert [c["cron_id"] for c in sdk.crons.search(enabled=False)] == [stateless["cron_id"]]
    assert [c["cron_id"] for c in sdk.crons.search(metadata={"team": "b"})] == [
        stateless["cron_id"]
    ]
    assert sdk.crons.search(sort_by="created_at", sort_order="asc", limit=1, offset=1) == [
        stateless
    ]
    assert sdk.crons.search(thread_id=thread, select=["cron_id", "schedule"]) == [
        {"cron_id": on_thread["cron_id"], "schedule": "0 9 * * *"}
    ]
    by_next = sdk.crons.search(sort_by="next_run_date", sort_order="asc")
    dates = [parse_ts(c["next_run_date"]) for c in by_next]
    assert dates == sorted(dates)

    assert sdk.crons.count() == 3
    assert sdk.crons.count(assistant_id="noop") == 2
    assert sdk.crons.count(thread_id=thread) == 1
    assert sdk.crons.count(metadata={"team": "a"}) == 1
    assert sdk.crons.count(thread_id=MISSING) == 0

    # update: schedule and time zone move the next date; metadata merges; end_time clears
    moved = sdk.crons.update(
        on_thread["cron_id"], schedule="30 8 * * *", timezone="UTC", metadata={"owner": "x"}
    )
    assert_cron(moved)
    assert moved["schedule"] == "30 8 * * *" and moved["timezone"] == "UTC"
    next_date = parse_ts(moved["next_run_date"])
    assert (next_date.hour, next_date.minute) == (8, 30)
    assert moved["metadata"] == {"team": "a", "owner": "x"}
    assert moved["payload"]["metadata"] == {"team": "a", "owner": "x"}
    assert parse_ts(moved["updated_at"]) > parse_ts(on_thread["updated_at"])
    assert moved["created_at"] == on_thread["created_at"]
    assert moved["payload"]["input"] == {"echo": 1}

    reenabled = sdk.crons.update(
        stateless["cron_id"], enabled=True, end_time=None, input={"x": 2}, on_run_completed="delete"
    )
    assert reenabled["enabled"] is True and reenabled["end_time"] is None
    assert reenabled["on_run_completed"] == "delete"
    assert reenabled["payload"]["input"] == {"x": 2}
    assert sdk.crons.search(enabled=False) == []

    # delete
    assert sdk.crons.delete(default["cron_id"]) is None
    assert sdk.crons.count() == 2
    with pytest.raises(NotFoundError):
        sdk.crons.delete(default["cron_id"])
    with pytest.raises(NotFoundError):
        sdk.crons.update(default["cron_id"], enabled=False)
    with pytest.raises(UnprocessableEntityError):
        sdk.crons.create("noop", schedule="61 * * * *")
    assert sdk.crons.count() == 2

    # deleting the thread takes its crons with it
    sdk.threads.delete(thread)
    assert [c["cron_id"] for c in sdk.crons.search()] == [stateless["cron_id"]]


def test_deleting_the_assistant_deletes_its_crons(sdk):
    mine = sdk.assistants.create("noop")
    sdk.crons.create(mine["assistant_id"], schedule="* * * * *")
    sdk.crons.create("noop", schedule="* * * * *")
    assert sdk.crons.count() == 2
    sdk.assistants.delete(mine["assistant_id"])
    assert sdk.crons.count() == 1
    assert sdk.crons.count(assistant_id=mine["assistant_id"]) == 0


def test_end_time_in_the_past_schedules_nothing(client):
    cron = make_cron(client, end_time="2020-01-01T00:00:00Z")
    assert cron["next_run_date"] is None
    # an end_time without an offset is read as UTC
    cron = make_cron(client, end_time="2099-01-01T00:00:00")
    assert cron["end_time"] == "2099-01-01T00:00:00+00:00"
    assert cron["next_run_date"] is not None


# --- bad input --------------------------------------------------------------------------------

THREAD = "/threads/{thread}/runs/crons"
STATELESS = "/runs/crons"
OK = {"assistant_id": "ledger", "schedule": "* * * * *"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        # creation
        ("post", STATELESS, {**OK, "schedule": "bad cron"}, 422, "schedule"),
        ("post", STATELESS, {**OK, "schedule": "60 * * * *"}, 422, "schedule"),
        ("post", STATELESS, {**OK, "schedule": "0 * * * * *"}, 422, "schedule"),
        ("post", STATELESS, {**OK, "schedule": ""}, 422, "schedule"),
        ("post", THREAD, {**OK, "schedule": "* * * * 9"}, 422, "schedule"),
        ("post", STATELESS, {**OK, "timezone": "Mars/Base"}, 422, "timezone"),
        ("post", THREAD, {**OK, "timezone": ""}, 422, "timezone"),
        ("post", STATELESS, {**OK, "assistant_id": MISSING}, 404, "not found"),
        ("post", STATELESS, {**OK, "assistant_id": "no-such-graph"}, 422, "assistant"),
        ("post", f"/threads/{MISSING}/runs/crons", OK, 404, "not found"),
        ("post", "/threads/not-a-uuid/runs/crons", OK, 422, "thread"),
        ("post", STATELESS, {"assistant_id": "ledger"}, 422, "schedule"),
        ("post", STATELESS, {"schedule": "* * * * *"}, 422, "assistant_id"),
        ("post", STATELESS, {**OK, "schedule": 5}, 422, "schedule"),
        ("post", STATELESS, {**OK, "enabled": "yes"}, 422, "enabled"),
        ("post", STATELESS, {**OK, "end_time": "tomorrow"}, 422, "end_time"),
        ("post", STATELESS, {**OK, "metadata": [1]}, 422, "metadata"),
        ("post", STATELESS, {**OK, "config": {"recursion_limit": "x"}}, 422, "recursion_limit"),
        ("post", STATELESS, {**OK, "interrupt_before": 5}, 422, "interrupt_before"),
        ("post", STATELESS, {**OK, "stream_mode": "nope"}, 422, "stream_mode"),
        ("post", STATELESS, {**OK, "durability": "forever"}, 422, "durability"),
        ("post", THREAD, {**OK, "multitask_strategy": "first"}, 422, "multitask"),
        ("post", STATELESS, {**OK, "on_run_completed": "archive"}, 422, "on_run_completed"),
        ("post", STATELESS, {**OK, "bogus": 1}, 422, "bogus"),
        ("post", STATELESS, {**OK, "webhook": "ftp://example.com/hook"}, 422, "webhook"),
        ("post", THREAD, {**OK, "webhook": "http://127.0.0.1:9/hook"}, 422, "webhook"),
        ("post", STATELESS, {**OK, "webhook": 5}, 422, "webhook"),
        ("post", THREAD, {**OK, "on_run_completed": "keep"}, 422, "on_run_completed"),
        ("post", STATELESS, b"{not json", 422, "JSON"),
        ("post", STATELESS, [OK], 422, "Invalid"),
        # patch
        ("patch", "/runs/crons/{cron}", {"schedule": "nope"}, 422, "schedule"),
        ("patch", "/runs/crons/{cron}", {"timezone": "Nope/No"}, 422, "timezone"),
        ("patch", "/runs/crons/{cron}", {"enabled": "no"}, 422, "enabled"),
        ("patch", "/runs/crons/{cron}", {"bogus": 1}, 422, "bogus"),
        ("patch", "/runs/crons/{cron}", {"multitask_strategy": "enqueue"}, 422, "multitask"),
        ("patch", "/runs/crons/{cron}", {}, 422, "empty"),
        ("patch", "/runs/crons/{cron}", {"on_run_completed": "keep"}, 422, "stateless"),
        ("patch", "/runs/crons/{cron}", {"end_time": "soon"}, 422, "end_time"),
        ("patch", "/runs/crons/{cron}", {"webhook": "ftp://example.com/hook"}, 422, "webhook"),
        ("patch", f"/runs/crons/{MISSING}", {"enabled": False}, 404, "not found"),
        ("patch", "/runs/crons/not-a-uuid", {"enabled": False}, 422, "cron"),
        # delete, get
        ("delete", f"/runs/crons/{MISSING}", None, 404, "not found"),
        ("delete", "/runs/crons/not-a-uuid", None, 422, "cron"),
        ("get", f"/runs/crons/{MISSING}", None, 404, "not found"),
        # search, count
        ("post", "/runs/crons/search", {"select": ["cron_id", "now"]}, 422, "select"),
        ("post", "/runs/crons/search", {"sort_by": "schedule"}, 422, "sort_by"),
        ("post", "/runs/crons/search", {"thread_id": "x"}, 422, "thread_id"),
        ("post", "/runs/crons/search", {"limit": 0}, 422, "limit"),
        ("post", "/runs/crons/search", {"limit": "10"}, 422, "limit"),
        ("post", "/runs/crons/search", {"enabled": "no"}, 422, "enabled"),
        ("post", "/runs/crons/search", {"assistant_id": "no-such-graph"}, 422, "assistant"),
        ("post", "/runs/crons/search", {"bogus": 1}, 422, "bogus"),
        ("post", "/runs/crons/count", {"bogus": 1}, 422, "bogus"),
        ("post", "/runs/crons/count", {"metadata": "x"}, 422, "metadata"),
    ],
)
def test_bad_input(
    client, database_url, thread_id, monkeypatch, method, path, body, status, detail
):
    """4xx JSON whose ``detail`` names the problem, and nothing written."""
    monkeypatch.delenv("CALLBOARD_WEBHOOK_ALLOW_PRIVATE", raising=False)
    cron = make_cron(client, thread_id, metadata={"k": 1})
    before = crons_fingerprint(database_url)
    url = path.replace("{thread}", thread_id).replace("{cron}", cron["cron_id"])
    call = getattr(client, method)
    if isinstance(body, bytes):
        resp = call(url, data=body, content_type="application/json")
    elif body is None:
        resp = call(url)
    else:
        resp = call(url, json=body)
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
    assert resp.mimetype == "application/json"
    assert detail.lower() in resp.get_json()["detail"].lower(), resp.get_json()
    assert crons_fingerprint(database_url) == before


# --- firing: fire_due_crons with a chosen now -------------------------------------------------


def test_each_due_occurrence_creates_exactly_one_run(
    client, db, rclient, actor, settings, thread_id
):
    cron = make_cron(
        client, thread_id, input={"echo": "tick"}, metadata={"team": "a"}, config={"tags": ["c"]}
    )
    first = parse_ts(cron["next_run_date"])
    assert first.second == 0 and first.microsecond == 0

    def fire(now: datetime.datetime) -> int:
        return fire_due_crons(db, rclient, actor, now)

    assert fire(first - SECOND) == 0  # not yet due
    assert runs_of(db, cron["cron_id"]) == []
    assert fire(first) == 1
    assert fire(first) == 0  # the same occurrence again: already fired
    assert fire(first + 30 * SECOND) == 0
    assert cron_row(db, cron["cron_id"])["next_run_date"] == first + MINUTE
    assert fire(first + MINUTE) == 1
    runs = runs_of(db, cron["cron_id"])
    assert len(runs) == 2

    run = runs[0]
    assert str(run["thread_id"]) == thread_id
    assert run["status"] == "pending" and run["temporary"] is False
    assert run["kwargs"]["input"] == {"echo": "tick"}
    assert run["kwargs"]["config"]["tags"] == ["c"]
    assert run["kwargs"]["config"]["configurable"]["cron_id"] == cron["cron_id"]
    assert run["metadata"]["team"] == "a"
    assert run["assistant_id"] == default_assistant_id("ledger")
    # each run's message was sent, once
    assert queued(rclient, settings.queue_name) == [(str(r["run_id"]), 1) for r in runs]


def test_missed_occurrences_fire_once_not_in_a_burst(client, db, rclient, actor, settings):
    cron = make_cron(client, schedule="*/5 * * * *")
    first = parse_ts(cron["next_run_date"])
    late = first + datetime.timedelta(hours=3, minutes=2, seconds=7)  # 37 occurrences missed
    assert fire_due_crons(db, rclient, actor, late) == 1
    assert fire_due_crons(db, rclient, actor, late) == 0
    # the next occurrence is the first after now, not one of the missed ones
    assert cron_row(db, cron["cron_id"])["next_run_date"] == first + datetime.timedelta(
        hours=3, minutes=5
    )
    assert len(runs_of(db, cron["cron_id"])) == 1


def test_no_run_after_end_time(client, db, rclient, actor):
    cron = make_cron(client)
    first = parse_ts(cron["next_run_date"])
    end = first + 90 * SECOND  # two occurrences before the end: first and first + 1 min
    patched = client.patch(f"/runs/crons/{cron['cron_id']}", json={"end_time": end.isoformat()})
    assert parse_ts(patched.get_json()["next_run_date"]) == first
    assert fire_due_crons(db, None, actor, first) == 1
    assert fire_due_crons(db, None, actor, first + MINUTE) == 1
    row = cron_row(db, cron["cron_id"])
    assert row["next_run_date"] is None  # nothing left before end_time
    for minutes in (2, 3, 60 * 24):
        assert fire_due_crons(db, None, actor, first + minutes * MINUTE) == 0
    assert len(runs_of(db, cron["cron_id"])) == 2
    # clearing end_time schedules it again, from now
    cleared = client.patch(f"/runs/crons/{cron['cron_id']}", json={"end_time": None}).get_json()
    assert cleared["end_time"] is None and cleared["next_run_date"] is not None


def test_schedule_is_read_in_its_timezone(client, db, rclient, actor):
    new_york = make_cron(client, schedule="0 9 * * *", timezone="America/New_York")
    in_utc = make_cron(client, schedule="0 9 * * *")
    # pretend the sweeper was down until Saturday 13 March 2027 10:00 UTC (05:00 in New York)
    now = utc(2027, 3, 13, 10, 0)
    assert fire_due_crons(db, rclient, actor, now) == 2  # both were overdue: one run each
    assert cron_row(db, new_york["cron_id"])["next_run_date"] == utc(2027, 3, 13, 14, 0)
    assert cron_row(db, in_utc["cron_id"])["next_run_date"] == utc(2027, 3, 14, 9, 0)

    assert fire_due_crons(db, rclient, actor, utc(2027, 3, 13, 13, 59, 59)) == 0
    assert fire_due_crons(db, rclient, actor, utc(2027, 3, 13, 14, 0)) == 1  # 09:00 EST
    # daylight saving time starts on the 14th: 09:00 EDT is 13:00 UTC
    assert cron_row(db, new_york["cron_id"])["next_run_date"] == utc(2027, 3, 14, 13, 0)
    assert fire_due_crons(db, rclient, actor, utc(2027, 3, 14, 8, 59)) == 0
    assert fire_due_crons(db, rclient, actor, utc(2027, 3, 14, 9, 0)) == 1  # the UTC one
    assert fire_due_crons(db, rclient, actor, utc(2027, 3, 14, 12, 59)) == 0
    assert fire_due_crons(db, rclient, actor, utc(2027, 3, 14, 13, 0)) == 1  # New York's
    assert len(runs_of(db, new_york["cron_id"])) == 3
    assert len(runs_of(db, in_utc["cron_id"])) == 2


def test_disabled_crons_do_not_fire_and_reenabling_does_not_burst(client, db, rclient, actor):
    cron = make_cron(client, enabled=False)
    first = parse_ts(cron["next_run_date"])
    for minutes in (0, 1, 30):
        assert fire_due_crons(db, rclient, actor, first + minutes * MINUTE) == 0
    enabled = client.patch(f"/runs/crons/{cron['cron_id']}", json={"enabled": True}).get_json()
    assert parse_ts(enabled["next_run_date"]) > datetime.datetime.now(UTC)
    assert fire_due_crons(db, rclient, actor, parse_ts(enabled["next_run_date"])) == 1
    assert len(runs_of(db, cron["cron_id"])) == 1


def test_stateless_crons_run_on_new_threads(client, db, rclient, actor):
    deleting = make_cron(client, input={"echo": 1})
    keeping = make_cron(client, input={"echo": 2}, on_run_completed="keep")
    first = max(parse_ts(deleting["next_run_date"]), parse_ts(keeping["next_run_date"]))
    assert fire_due_crons(db, rclient, actor, first) == 2
    assert fire_due_crons(db, rclient, actor, first + MINUTE) == 2
    for cron, on_completion in ((deleting, "delete"), (keeping, "keep")):
        runs = runs_of(db, cron["cron_id"])
        assert len(runs) == 2
        assert len({r["thread_id"] for r in runs}) == 2  # a new thread per run
        assert all(r["temporary"] and r["on_completion"] == on_completion for r in runs)


def test_threads_of_stateless_crons_get_the_default_ttl(client, db, rclient, actor, thread_id):
    # checkpointer.ttl's default (sweeper.__main__.default_thread_ttl) reaches the thread a
    # stateless cron's run creates, as POST /threads gives it
    stateless = make_cron(client, input={"echo": 1}, on_run_completed="keep")
    on_thread = make_cron(client, thread_id, input={"echo": 2})
    first = max(parse_ts(stateless["next_run_date"]), parse_ts(on_thread["next_run_date"]))
    ttl = {"ttl_minutes": 90, "ttl_strategy": "keep_latest"}
    assert fire_due_crons(db, rclient, actor, first, thread_ttl=ttl) == 2
    (run,) = runs_of(db, stateless["cron_id"])
    got = client.get(f"/threads/{run['thread_id']}?include=ttl").get_json()["ttl"]
    assert (got["strategy"], got["ttl_minutes"]) == ("keep_latest", 90)
    # an existing thread keeps its own (no) TTL
    assert client.get(f"/threads/{thread_id}?include=ttl").get_json().get("ttl") is None


def test_multitask_reject_skips_an_occurrence_on_a_busy_thread(
    client, db, rclient, actor, thread_id
):
    cron = make_cron(client, thread_id, multitask_strategy="reject")
    first = parse_ts(cron["next_run_date"])
    assert fire_due_crons(db, rclient, actor, first) == 1  # the thread was idle
    # that run is still pending: the next occurrence is refused, and the cron moves on
    assert fire_due_crons(db, rclient, actor, first + MINUTE) == 0
    assert cron_row(db, cron["cron_id"])["next_run_date"] == first + 2 * MINUTE
    assert len(runs_of(db, cron["cron_id"])) == 1


def test_multitask_interrupt_supersedes_the_pending_run(client, db, rclient, actor, thread_id):
    cron = make_cron(client, thread_id, multitask_strategy="interrupt")
    first = parse_ts(cron["next_run_date"])
    assert fire_due_crons(db, rclient, actor, first) == 1
    assert fire_due_crons(db, rclient, actor, first + MINUTE) == 1
    older, newer = runs_of(db, cron["cron_id"])
    assert older["status"] == "interrupted" and newer["status"] == "pending"
    assert newer["multitask_strategy"] == "interrupt"


def test_webhook_and_run_options_reach_the_run(client, db, rclient, actor, monkeypatch):
    monkeypatch.setenv("CALLBOARD_WEBHOOK_ALLOW_PRIVATE", "1")
    hook = "http://127.0.0.1:9/hook"
    cron = make_cron(
        client,
        webhook=hook,
        stream_mode=["updates"],
        durability="exit",
        context={"c": 1},
        interrupt_before=["a"],
    )
    first = parse_ts(cron["next_run_date"])
    assert fire_due_crons(db, rclient, actor, first) == 1
    (run,) = runs_of(db, cron["cron_id"])
    kwargs = run["kwargs"]
    assert kwargs["webhook"] == hook
    assert kwargs["stream_mode"] == ["updates"] and kwargs["durability"] == "exit"
    assert kwargs["context"] == {"c": 1} and kwargs["interrupt_before"] == ["a"]


def test_two_sweepers_at_once_create_one_run_per_occurrence(client, db, settings, rclient):
    """Four sweepers (threads, each with its own pool and broker) fire the same 20 crons at the
    same instant, three occurrences in a row: 20 runs per occurrence, never more."""
    crons = [make_cron(client, input={"echo": i}) for i in range(20)]
    start = max(parse_ts(c["next_run_date"]) for c in crons)
    sweepers = 4
    dbs = [Database(settings.database_url, max_size=2) for _ in range(sweepers)]
    brokers = [make_broker(settings) for _ in range(sweepers)]
    actors = [declare_execute_run(b, queue_name=settings.queue_name) for b in brokers]
    try:
        for occurrence in range(3):
            now = start + occurrence * MINUTE
            barrier = threading.Barrier(sweepers)

            def sweeper(i: int, now: datetime.datetime = now, barrier=barrier) -> int:
                barrier.wait(timeout=30)
                return fire_due_crons(dbs[i], None, actors[i], now)

            with ThreadPoolExecutor(sweepers) as pool:
                counts = list(pool.map(sweeper, range(sweepers)))
            assert sum(counts) == 20, counts
        for cron in crons:
            assert len(runs_of(db, cron["cron_id"])) == 3
        sent = queued(rclient, settings.queue_name)
        assert len(sent) == 60 and len({run_id for run_id, _ in sent}) == 60
    finally:
        for database in dbs:
            database.close()
        for broker in brokers:
            broker.close()


def test_cron_runs_execute_to_success(client, runtime, ledger, thread_id):
    """The runs a cron creates are ordinary runs: a worker executes them."""
    cron = make_cron(client, thread_id, input={"echo": "from cron"})
    stateless = make_cron(client, input={"echo": "stateless"}, on_run_completed="keep")
    first = max(parse_ts(cron["next_run_date"]), parse_ts(stateless["next_run_date"]))
    assert fire_due_crons(runtime.db, runtime.redis, runtime.actor, first) == 2
    handled = drain(runtime.actor.broker, runtime.settings.queue_name, execute_run)
    assert len(handled) == 2
    for cron_id, echo in ((cron["cron_id"], "from cron"), (stateless["cron_id"], "stateless")):
        (run,) = runs_of(runtime.db, cron_id)
        assert run["status"] == "success", run
        assert run["output"] == {"ok": True, "echo": echo}


# --- a transient failure to build an occurrence's run (issue 11, item 9) ----------------------
# The webhook host of the payload does not resolve for a moment (EAI_AGAIN): the occurrence stays
# due and fires at the next tick (before the fix next_run_date moved on: it fired zero times).

PUBLIC = "93.184.215.14"  # a public address (the webhook is never POSTed here)


def test_a_transient_failure_to_build_the_run_retries_the_occurrence(
    client: Any, db: Any, rclient: Any, actor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = {"fail": False}

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if resolver["fail"]:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    cron = make_cron(client, schedule="*/5 * * * *", webhook="http://hooks.example.com/cb")
    due = parse_ts(cron["next_run_date"])
    now = due + datetime.timedelta(seconds=30)

    resolver["fail"] = True
    assert fire_due_crons(db, rclient, actor, now) == 0
    assert cron_row(db, cron["cron_id"])["next_run_date"] == due  # still due
    resolver["fail"] = False
    assert fire_due_crons(db, rclient, actor, now + datetime.timedelta(seconds=5)) == 1
    assert len(runs_of(db, cron["cron_id"])) == 1
    assert cron_row(db, cron["cron_id"])["next_run_date"] == due + datetime.timedelta(minutes=5)


def test_a_transient_failure_past_the_next_occurrence_moves_on(
    client: Any, db: Any, rclient: Any, actor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retried only until the following occurrence is due: then that one is next."""

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example.com" and failing:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, port))]

    failing = False
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    cron = make_cron(client, schedule="*/5 * * * *", webhook="http://hooks.example.com/cb")
    due = parse_ts(cron["next_run_date"])
    failing = True
    late = due + datetime.timedelta(minutes=7)
    assert fire_due_crons(db, rclient, actor, late) == 0
    assert cron_row(db, cron["cron_id"])["next_run_date"] == due + datetime.timedelta(minutes=10)
