"""Crons: their schedules (standard 5-field cron expressions read in an IANA time zone, and the
next occurrence after an instant) and the run-create body each occurrence uses. The API
(``app/api/crons.py``) and the sweeper (``sweeper/crons.py``) both build on this module.

The expression is that of crontab(5) as Debian's Vixie cron reads it, computed by ``cronsim``
(which implements exactly that dialect; the official server computes the same next dates for
each example in ``tests/integration/test_crons.py``). APScheduler only paces the sweeper's ticks.

    minute hour day-of-month month day-of-week        e.g. "*/5 * * * *", "0 9 * * 1-5"

- each field is a list of ``*``, ``N`` or ``N-M``, each with an optional ``/step``; months and
  weekdays may be named (``jan``, ``mon``); the macros ``@yearly`` ``@annually`` ``@monthly``
  ``@weekly`` ``@daily`` ``@midnight`` ``@hourly`` are accepted, and so are cronsim's (and
  croniter's) extensions ``L`` (last day of the month), ``5L`` (last Friday), ``1#2`` (second
  Monday);
- day of week counts from Sunday: 0 and 7 are Sunday, 1 is Monday;
- when both day-of-month and day-of-week are restricted (neither starts with ``*``), a day
  matches if EITHER matches (crontab(5): "0 9 13 * 5" fires on the 13th and on Fridays);
- in a time zone with daylight saving time, a wall-clock time that does not exist that day
  fires at the first minute after the gap, and one that exists twice fires once (Debian cron).
"""

from __future__ import annotations

import datetime
import uuid
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cronsim import CronSim, CronSimError

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


@dataclass(frozen=True)
class Schedule:
    """A parsed cron expression in a time zone. Build it with ``Schedule.parse``.

    ``fields`` is the 5-field expression (macros expanded, lower case) given to cronsim.
    """

    expression: str
    timezone: str | None
    fields: str

    @classmethod
    def parse(cls, expression: str, timezone: str | None = None) -> Schedule:
        """Parse ``expression`` (see the module's docstring) read in ``timezone`` (None = UTC).

        Raises:
            InvalidSchedule: not a standard cron expression, or one that never fires (e.g.
                "0 0 31 2 *"); the message says why.
            InvalidTimezone: unknown time zone.
        """
        zone(timezone)
        text = expression.strip().lower()
        text = MACROS.get(text, text)
        count = len(text.split())
        if count != 5:  # cronsim also reads 6 fields (seconds first): not standard cron
            raise InvalidSchedule(
                f"Invalid cron schedule: {expression!r}: expected 5 fields, got {count}; "
                f"{SCHEDULE_HELP}"
            )
        try:
            CronSim(text, datetime.datetime.now(UTC))
        except CronSimError as exc:
            raise InvalidSchedule(
                f"Invalid cron schedule: {expression!r}: {exc}; {SCHEDULE_HELP}"
            ) from None
        schedule = cls(expression, timezone, text)
        if schedule.next_after(datetime.datetime.now(UTC)) is None:
            raise InvalidSchedule(f"Invalid cron schedule: {expression!r}: it never fires")
        return schedule

    def next_after(self, moment: datetime.datetime) -> datetime.datetime | None:
        """The first occurrence strictly after ``moment`` (an aware datetime), in UTC; None if
        there is none within 50 years (an impossible date such as "0 0 30 2 1#5")."""
        local = moment.astimezone(zone(self.timezone))
        try:
            return next(CronSim(self.fields, local)).astimezone(UTC)
        except StopIteration:
            return None

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
