"""Schemas of crons (``app/api/crons.py``): a schedule plus the run fields of its payload."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.schemas.base import (
    SORT_ORDERS,
    ConfigSchema,
    JSONBoolean,
    StrictSchema,
    UUIDString,
    json_object,
    page_limit,
    page_offset,
    selection,
)
from app.schemas.runs import check_run_fields

# the fields of a cron as answered (``app/api/crons.py``: dump_cron)
CRON_FIELDS = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "on_run_completed",
    "end_time",
    "schedule",
    "timezone",
    "created_at",
    "updated_at",
    "user_id",
    "payload",
    "next_run_date",
    "metadata",
    "enabled",
)


def _cron_schedule(value: str) -> None:
    from app.crons import InvalidSchedule, Schedule

    try:
        Schedule.parse(value)
    except InvalidSchedule as exc:
        raise ValidationError(str(exc)) from None


def _cron_timezone(value: str | None) -> None:
    from app.crons import InvalidTimezone, zone

    if value is not None:
        try:
            zone(value)
        except InvalidTimezone as exc:
            raise ValidationError(str(exc)) from None


class _CronRunFieldsSchema(StrictSchema):
    """The run fields a cron's payload carries (``langgraph_sdk`` ``crons.create``/``update``);
    ``webhook`` is checked with each run's (``app.run_requests.check_webhook_url``)."""

    input = fields.Raw(allow_none=True)
    metadata = json_object()
    config = fields.Nested(ConfigSchema)
    context = json_object()
    webhook = fields.String()
    interrupt_before = fields.Raw()
    interrupt_after = fields.Raw()
    stream_mode = fields.Raw()
    stream_subgraphs = JSONBoolean()
    stream_resumable = JSONBoolean()
    durability = fields.String(validate=validate.OneOf(["sync", "async", "exit"]))
    enabled = JSONBoolean()

    @validates_schema
    def _check_run_shapes(self, data: dict, **_: Any) -> None:
        check_run_fields(data)


class ThreadCronCreateSchema(_CronRunFieldsSchema):
    """``POST /threads/{thread_id}/runs/crons`` (``crons.create_for_thread``). ``end_time``
    without an offset is read as UTC; ``timezone`` is the IANA zone the schedule is read in."""

    assistant_id = fields.String(required=True, validate=validate.Length(min=1))
    schedule = fields.String(required=True, validate=_cron_schedule)
    timezone = fields.String(allow_none=True, validate=_cron_timezone)
    end_time = fields.DateTime(allow_none=True)
    checkpoint_during = JSONBoolean()
    multitask_strategy = fields.String(
        validate=validate.OneOf(["reject", "interrupt", "rollback", "enqueue"])
    )


class CronCreateSchema(ThreadCronCreateSchema):
    """``POST /runs/crons`` (``crons.create``): a stateless cron, each run on a new thread."""

    on_run_completed = fields.String(validate=validate.OneOf(["delete", "keep"]))


class CronPatchSchema(_CronRunFieldsSchema):
    """``PATCH /runs/crons/{cron_id}`` (``crons.update``): the given fields replace the cron's
    (``metadata`` is merged); ``end_time: null`` clears the end time."""

    schedule = fields.String(validate=_cron_schedule)
    timezone = fields.String(allow_none=True, validate=_cron_timezone)
    end_time = fields.DateTime(allow_none=True)
    on_run_completed = fields.String(validate=validate.OneOf(["delete", "keep"]))


class CronSearchSchema(StrictSchema):
    """``POST /runs/crons/search``; ``assistant_id`` is an assistant UUID or a graph id."""

    assistant_id = fields.String(validate=validate.Length(min=1))
    thread_id = UUIDString()
    enabled = JSONBoolean()
    metadata = json_object()
    limit = page_limit()
    offset = page_offset()
    sort_by = fields.String(
        load_default="created_at",
        validate=validate.OneOf(
            [
                "cron_id",
                "assistant_id",
                "thread_id",
                "created_at",
                "updated_at",
                "next_run_date",
                "end_time",
            ]
        ),
    )
    sort_order = fields.String(load_default="desc", validate=validate.OneOf(SORT_ORDERS))
    select = selection(CRON_FIELDS)


class CronCountSchema(StrictSchema):
    """``POST /runs/crons/count``: the filters of ``CronSearchSchema``."""

    assistant_id = fields.String(validate=validate.Length(min=1))
    thread_id = UUIDString()
    enabled = JSONBoolean()
    metadata = json_object()
