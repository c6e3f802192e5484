"""Schemas of runs (``app/api/runs.py``, ``app/api/streams.py``, ``app/api/thread_commands.py``)
and the run fields crons share (``app/schemas/crons.py``)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.schemas.base import (
    CheckpointSchema,
    ConfigSchema,
    JSONBoolean,
    JSONNumber,
    StrictSchema,
    UUIDString,
    json_object,
    page_limit,
    page_offset,
    selection,
)

STREAM_MODES = (
    "values",
    "messages",
    "messages-tuple",
    "updates",
    "events",
    "tasks",
    "checkpoints",
    "debug",
    "custom",
)

# the longest delayed start of a run (``after_seconds``): 365 days
MAX_AFTER_SECONDS = 365 * 24 * 3600

# the fields of a run as answered (``app/api/common.py``: dump_run)
RUN_FIELDS = (
    "run_id",
    "thread_id",
    "assistant_id",
    "metadata",
    "status",
    "kwargs",
    "multitask_strategy",
    "created_at",
    "updated_at",
    "attempt",
)


def check_run_fields(data: dict) -> None:
    """Shapes marshmallow cannot say for the run fields shared by runs and crons.

    Raises:
        ValidationError: interrupt_before/after is not "*" or a list of node names, or a
            stream mode is unknown.
    """
    for name in ("interrupt_before", "interrupt_after"):
        value = data.get(name)
        if (
            value is not None
            and value != "*"
            and not (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            raise ValidationError({name: ['must be "*" or a list of node names']})
    modes = data.get("stream_mode")
    if modes is not None:
        listed = modes if isinstance(modes, list) else [modes]
        bad = [m for m in listed if m not in STREAM_MODES]
        if bad:
            raise ValidationError({"stream_mode": [f"unknown stream mode(s): {bad}"]})


class CommandSchema(StrictSchema):
    resume = fields.Raw(allow_none=True)
    update = fields.Raw(allow_none=True)
    goto = fields.Raw(allow_none=True)


class RunCreateSchema(StrictSchema):
    """``POST /threads/{thread_id}/runs`` and ``POST /runs`` (``langgraph_sdk`` ``runs.create``)."""

    NOT_SUPPORTED = (
        "langsmith_tracer",
        "feedback_keys",
    )
    assistant_id = fields.String(required=True, validate=validate.Length(min=1))
    input = fields.Raw(allow_none=True)
    command = fields.Nested(CommandSchema, allow_none=True)
    stream_mode = fields.Raw()
    stream_subgraphs = JSONBoolean()
    stream_resumable = JSONBoolean()
    config = fields.Nested(ConfigSchema)
    context = json_object()
    metadata = json_object()
    interrupt_before = fields.Raw()
    interrupt_after = fields.Raw()
    # checked (scheme, resolved addresses) by app.run_requests.check_webhook_url
    webhook = fields.String(allow_none=True)
    checkpoint = fields.Nested(CheckpointSchema)
    checkpoint_id = fields.String()
    checkpoint_during = JSONBoolean()
    multitask_strategy = fields.String(
        validate=validate.OneOf(["reject", "interrupt", "rollback", "enqueue"])
    )
    if_not_exists = fields.String(validate=validate.OneOf(["create", "reject"]))
    on_completion = fields.String(validate=validate.OneOf(["delete", "keep"]))
    on_disconnect = fields.String(validate=validate.OneOf(["cancel", "continue"]))
    # seconds before the run may start (delayed start), at most a year
    after_seconds = JSONNumber(validate=validate.Range(min=0, max=MAX_AFTER_SECONDS))
    durability = fields.String(validate=validate.OneOf(["sync", "async", "exit"]))
    strict_resume = JSONBoolean()
    langsmith_tracer = fields.Raw()
    feedback_keys = fields.Raw()

    @validates_schema
    def _check_shapes(self, data: dict, **_: Any) -> None:
        check_run_fields(data)
        if data.get("input") is not None and data.get("command") is not None:
            raise ValidationError({"command": ["give either input or command, not both"]})


class RunWaitSchema(RunCreateSchema):
    """``POST /threads/{thread_id}/runs/wait`` and ``POST /runs/wait``: a run-create body, plus
    ``raise_error`` that the sync ``runs.wait`` of ``langgraph-sdk`` 0.4.0–0.4.13 sends (the SDK
    itself raises on an error output; the official server ignores the field, and so does this)."""

    raise_error = JSONBoolean()


class RunBatchItemSchema(RunCreateSchema):
    """One run of ``POST /runs/batch`` (``langgraph_sdk`` ``runs.create_batch``,
    ``schema.RunCreate``): a run-create body; with a ``thread_id`` the run is created on that
    thread, without one (or null) it is stateless."""

    thread_id = UUIDString(allow_none=True)


class RunListQuerySchema(StrictSchema):
    limit = page_limit(strict=False)
    offset = page_offset(strict=False)
    status = fields.String(
        validate=validate.OneOf(
            ["pending", "running", "success", "error", "timeout", "interrupted"]
        )
    )
    select = selection(RUN_FIELDS)


class CancelQuerySchema(StrictSchema):
    wait = fields.Boolean(load_default=False)
    action = fields.String(
        load_default="interrupt", validate=validate.OneOf(["interrupt", "rollback"])
    )


class JoinStreamQuerySchema(StrictSchema):
    # checked in the view: langgraph-sdk sends an unset stream_mode as an empty string
    stream_mode = fields.List(fields.String())
    cancel_on_disconnect = fields.Boolean(load_default=False)


class RunsCancelSchema(StrictSchema):
    """``POST /runs/cancel`` (``langgraph_sdk`` ``runs.cancel_many``): either ``status`` (every
    pending and/or running run), or ``thread_id`` and ``run_ids``."""

    thread_id = UUIDString()
    run_ids = fields.List(UUIDString())
    status = fields.String(validate=validate.OneOf(["pending", "running", "all"]))

    @validates_schema
    def _one_selection(self, data: dict, **_: Any) -> None:
        if "status" in data:
            if "thread_id" in data or "run_ids" in data:
                raise ValidationError(
                    "When providing a 'status', 'thread_id' and 'run_ids' must be omitted. The "
                    "'status' parameter cancels all runs with the given status, regardless of "
                    "thread or run ID."
                )
        elif "thread_id" not in data or "run_ids" not in data:
            raise ValidationError("Must provide either a status or both 'thread_id' and 'run_ids'")


class BulkCancelQuerySchema(StrictSchema):
    action = fields.String(
        load_default="interrupt", validate=validate.OneOf(["interrupt", "rollback"])
    )
