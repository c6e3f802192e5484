"""Crons: their schedules (standard 5-field cron expressions read in an IANA time zone, and the
next occurrence after an instant) and the run-create body each occurrence uses. The API
(``app/api/crons.py``) and the sweeper (``sweeper/crons.py``) both build on this module.

The expression is that of crontab(5) as Vixie cron reads it (the official server computes the
same next dates for each example below), computed with APScheduler 3.x's
``CronTrigger.from_crontab``:

    minute hour day-of-month month day-of-week        e.g. "*/5 * * * *", "0 9 * * 1-5"

- each field is a list of ``*``, ``N`` or ``N-M``, each with an optional ``/step``; months and
  weekdays may be named (``jan``, ``mon``); the macros ``@yearly`` ``@annually`` ``@monthly``
  ``@weekly`` ``@daily`` ``@midnight`` ``@hourly`` are accepted;
- day of week counts from Sunday: 0 and 7 are Sunday, 1 is Monday (APScheduler 3.x counts
  from Monday, so the field is translated to weekday names before it reaches it);
- when both day-of-month and day-of-week are restricted (neither starts with ``*``), a day
  matches if EITHER matches (crontab(5): "0 9 13 * 5" fires on the 13th and on Fridays).
"""

from __future__ import annotations

import datetime
import re
import uuid
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apscheduler.triggers.cron import CronTrigger

UTC = datetime.UTC

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# one item of a field: "*", "N", "N-M" or a name (range), with an optional "/step"
_ITEM = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?$")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0..6
_APS_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # APScheduler's 0..6

SCHEDULE_HELP = (
    "use the standard cron format (minute hour day_of_month month day_of_week), "
    "e.g. '*/5 * * * *' for every 5 minutes"
)


class InvalidSchedule(ValueError):
    """The cron expression is not a valid standard cron expression (message says why)."""


class InvalidTimezone(ValueError):
    """The time zone is not a known IANA time zone name."""


def zone(name: str | None) -> zoneinfo.ZoneInfo:
    """The ``ZoneInfo`` of an IANA name (None = UTC).

    Raises:
        InvalidTimezone: unknown or malformed name.
    """
    if name is None:
        return zoneinfo.ZoneInfo("UTC")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidTimezone(
            f"Invalid timezone: {name!r}. Use an IANA time zone name (e.g. 'America/New_York')."
        ) from None


def _weekday(token: str) -> int:
    if token.isdigit():
        value = int(token)
        if not 0 <= value <= 7:
            raise InvalidSchedule(f"day of week {value} is out of range (0-7)")
        return value % 7
    if token in _DAY_NAMES:
        return _DAY_NAMES.index(token)
    raise InvalidSchedule(f"unknown day of week {token!r}")


def _weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler weekday names ("1-5" → "mon,tue,wed,thu,fri")."""
    days: set[int] = set()
    for item in field.split(","):
        match = _ITEM.match(item)
        if match is None:
            raise InvalidSchedule(f"bad day-of-week item {item!r}")
        span, step_text = match.groups()
        step = int(step_text) if step_text else 1
        if step < 1:
            raise InvalidSchedule("a step must be at least 1")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            low, high = span.split("-")
            first, last = _weekday(low), _weekday(high)
            if high == "7":  # "1-7": Monday to Sunday
                last = 7
            if first > last:
                raise InvalidSchedule(f"day-of-week range {span!r} runs backwards")
        else:
            first = _weekday(span)
            last = 6 if step_text else first  # "1/2": from Monday on, every other day
        days.update(d % 7 for d in range(first, last + 1, step))
    if days == set(range(7)):
        return "*"
    return ",".join(_APS_WEEKDAYS[(d - 1) % 7] for d in sorted(days))


def _check_syntax(fields: list[str]) -> None:
    for field in fields:
        for item in field.split(","):
            if _ITEM.match(item) is None:
                raise InvalidSchedule(f"bad item {item!r}")


def _trigger(fields: list[str], tz: zoneinfo.ZoneInfo) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(" ".join(fields), timezone=tz)
    except ValueError as exc:
        raise InvalidSchedule(str(exc)) from None


@dataclass(frozen=True)
class Schedule:
    """A parsed cron expression in a time zone. Build it with ``Schedule.parse``."""

    expression: str
    timezone: str | None
    triggers: tuple[CronTrigger, ...]

    @classmethod
    def parse(cls, expression: str, timezone: str | None = None) -> Schedule:
        """Parse ``expression`` (see the module's docstring) read in ``timezone`` (None = UTC).

        Raises:
            InvalidSchedule: not a standard cron expression (the message says why).
            InvalidTimezone: unknown time zone.
        """
        tz = zone(timezone)
        text = expression.strip().lower()
        text = MACROS.get(text, text)
        fields = text.split()
        if len(fields) != 5:
            raise InvalidSchedule(
                f"Invalid cron schedule: {expression!r}: expected 5 fields, got {len(fields)}; "
                f"{SCHEDULE_HELP}"
            )
        try:
            _check_syntax(fields)
            minute, hour, dom, month, dow = fields
            weekdays = _weekdays(dow)
            if dom.startswith("*") or dow.startswith("*"):
                triggers: tuple[CronTrigger, ...] = (
                    _trigger([minute, hour, dom, month, weekdays], tz),
                )
            else:  # both restricted: either matches (crontab(5))
                triggers = (
                    _trigger([minute, hour, dom, month, "*"], tz),
                    _trigger([minute, hour, "*", month, weekdays], tz),
                )
        except InvalidSchedule as exc:
            raise InvalidSchedule(
                f"Invalid cron schedule: {expression!r}: {exc}; {SCHEDULE_HELP}"
            ) from None
        schedule = cls(expression, timezone, triggers)
        if schedule.next_after(datetime.datetime.now(UTC)) is None:
            # e.g. "0 0 31 2 *": APScheduler would search forever for February 31st
            raise InvalidSchedule(f"Invalid cron schedule: {expression!r}: it never fires")
        return schedule

    def next_after(self, moment: datetime.datetime) -> datetime.datetime | None:
        """The first occurrence strictly after ``moment`` (an aware datetime), in UTC; None if
        there is none (an impossible date)."""
        start = moment + datetime.timedelta(microseconds=1)
        times = [t.get_next_fire_time(None, start) for t in self.triggers]
        found = [t for t in times if t is not None]
        return min(found).astimezone(UTC) if found else None

    def next_until(
        self, moment: datetime.datetime, end_time: datetime.datetime | None
    ) -> datetime.datetime | None:
        """``next_after(moment)``, or None when that is after ``end_time`` (no run after it)."""
        nxt = self.next_after(moment)
        if nxt is None or (end_time is not None and nxt > end_time):
            return None
        return nxt


# --- the run of an occurrence -----------------------------------------------------------------

# payload keys that describe the cron, not its runs
CRON_ONLY_FIELDS = ("schedule", "timezone", "end_time", "enabled", "on_run_completed")


def with_cron_id(config: Mapping[str, Any] | None, cron_id: uuid.UUID) -> dict[str, Any]:
    """``config`` with ``configurable.cron_id`` set, as the official server stores a cron's
    payload (so each run's config names the cron that made it)."""
    config = dict(config or {})
    config["configurable"] = {**(config.get("configurable") or {}), "cron_id": str(cron_id)}
    return config


def run_request(cron: Mapping[str, Any]) -> dict[str, Any]:
    """The run-create body (``RunCreateSchema`` fields) for an occurrence of ``cron`` (a row of
    ``crons``, or the same keys): its payload without the cron-only fields, the cron's metadata,
    and for a stateless cron ``on_completion`` from ``on_run_completed`` (default "delete")."""
    body = {k: v for k, v in cron["payload"].items() if k not in CRON_ONLY_FIELDS}
    body["metadata"] = dict(cron["metadata"] or {})
    if cron["thread_id"] is None:
        body["on_completion"] = cron["on_run_completed"] or "delete"
    return body
