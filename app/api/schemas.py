"""Every request schema of the API (marshmallow), named as the official server's bodies.

Unknown fields are rejected (marshmallow's ``RAISE``): a client never has a field silently
dropped. Fields the official API defines but Callboard does not do yet are declared (so the
OpenAPI spec shows them) and refused with a 422 that names them (``NOT_SUPPORTED``).
"""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

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
SORT_ORDERS = ("asc", "desc")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE

    # fields declared for the spec's sake that this server refuses when present
    NOT_SUPPORTED: tuple[str, ...] = ()

    @validates_schema(pass_original=True)
    def _refuse_unsupported(self, data: dict, original: Any, **_: Any) -> None:
        # false/null of a flag is the default behaviour, which this server does
        given = [
            name
            for name in self.NOT_SUPPORTED
            if isinstance(original, dict) and original.get(name) not in (None, False)
        ]
        if given:
            raise ValidationError({name: ["not supported by this server yet"] for name in given})


class UUIDString(fields.String):
    """A UUID in its text form; loads as ``uuid.UUID``."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> uuid.UUID:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return uuid.UUID(text)
        except ValueError:
            raise ValidationError("Not a valid UUID.") from None


class JSONBoolean(fields.Boolean):
    """A boolean of a JSON body: ``true`` or ``false`` only (not "yes", 1, …; query strings,
    which are text, use ``fields.Boolean``)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def _json_object() -> fields.Dict:
    return fields.Dict(keys=fields.String(), allow_none=True)


def _limit(default: int = 10, strict: bool = True) -> fields.Integer:
    """``strict``: JSON bodies must send a number; query strings are text and are parsed."""
    return fields.Integer(
        load_default=default, validate=validate.Range(min=1, max=1000), strict=strict
    )


def _offset(strict: bool = True) -> fields.Integer:
    return fields.Integer(load_default=0, validate=validate.Range(min=0), strict=strict)


# the fields of the response items (``app/api/common.py``: dump_assistant, dump_thread, dump_run)
ASSISTANT_FIELDS = (
    "assistant_id",
    "graph_id",
    "config",
    "context",
    "metadata",
    "name",
    "description",
    "version",
    "created_at",
    "updated_at",
)
THREAD_FIELDS = (
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "status",
    "config",
    "values",
    "error",
    "interrupts",
)
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


def _select(names: tuple[str, ...]) -> fields.List:
    """``select``: the fields to keep of each item; an unknown name is refused even when
    nothing matches."""

    def known(value: list[str]) -> None:
        unknown = [v for v in value if v not in names]
        if unknown:
            raise ValidationError(f"cannot select unknown field(s): {unknown}")

    return fields.List(fields.String(), validate=known)


class ConfigSchema(StrictSchema):
    """A LangGraph ``RunnableConfig``. ``configurable.run_timeout_seconds`` (a positive number)
    overrides ``RUN_TIMEOUT_SECONDS`` for the runs of an assistant, or for one run."""

    tags = fields.List(fields.String())
    recursion_limit = fields.Integer(strict=True, validate=validate.Range(min=1))
    configurable = _json_object()
    metadata = _json_object()

    @validates_schema
    def _check_timeout(self, data: dict, **_: Any) -> None:
        timeout = (data.get("configurable") or {}).get("run_timeout_seconds")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise ValidationError(
                {"configurable": ["run_timeout_seconds must be a positive number of seconds"]}
            )


# --- assistants -------------------------------------------------------------------------------


class AssistantCreateSchema(StrictSchema):
    assistant_id = UUIDString()
    graph_id = fields.String(required=True, validate=validate.Length(min=1))
    config = fields.Nested(ConfigSchema, load_default=dict)
    context = _json_object()
    metadata = _json_object()
    if_exists = fields.String(
        load_default="raise", validate=validate.OneOf(["raise", "do_nothing"])
    )
    name = fields.String(validate=validate.Length(min=1, max=512))
    description = fields.String(allow_none=True)


class AssistantPatchSchema(StrictSchema):
    graph_id = fields.String(validate=validate.Length(min=1))
    config = fields.Nested(ConfigSchema)
    context = _json_object()
    metadata = _json_object()
    name = fields.String(validate=validate.Length(min=1, max=512))
    description = fields.String(allow_none=True)


class AssistantSearchSchema(StrictSchema):
    metadata = _json_object()
    graph_id = fields.String()
    name = fields.String()
    limit = _limit()
    offset = _offset()
    sort_by = fields.String(
        load_default="created_at",
        validate=validate.OneOf(["assistant_id", "graph_id", "name", "created_at", "updated_at"]),
    )
    sort_order = fields.String(load_default="desc", validate=validate.OneOf(SORT_ORDERS))
    select = _select(ASSISTANT_FIELDS)


class AssistantCountSchema(StrictSchema):
    metadata = _json_object()
    graph_id = fields.String()
    name = fields.String()


class AssistantVersionsSchema(StrictSchema):
    metadata = _json_object()
    limit = _limit()
    offset = _offset()


class AssistantLatestSchema(StrictSchema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


# --- threads ----------------------------------------------------------------------------------


class ThreadCreateSchema(StrictSchema):
    NOT_SUPPORTED = ("supersteps", "ttl")
    thread_id = UUIDString()
    metadata = _json_object()
    if_exists = fields.String(
        load_default="raise", validate=validate.OneOf(["raise", "do_nothing"])
    )
    supersteps = fields.Raw()
    ttl = fields.Raw()


class ThreadPatchSchema(StrictSchema):
    NOT_SUPPORTED = ("ttl",)
    metadata = fields.Dict(keys=fields.String(), required=True)
    ttl = fields.Raw()


class ThreadSearchSchema(StrictSchema):
    NOT_SUPPORTED = ("values", "extract")
    metadata = _json_object()
    values = _json_object()
    ids = fields.List(UUIDString())
    status = fields.String(validate=validate.OneOf(["idle", "busy", "interrupted", "error"]))
    limit = _limit()
    offset = _offset()
    sort_by = fields.String(
        load_default="created_at",
        validate=validate.OneOf(["thread_id", "status", "created_at", "updated_at"]),
    )
    sort_order = fields.String(load_default="desc", validate=validate.OneOf(SORT_ORDERS))
    select = _select(THREAD_FIELDS)
    extract = fields.Raw()


class ThreadCountSchema(StrictSchema):
    NOT_SUPPORTED = ("values",)
    metadata = _json_object()
    values = _json_object()
    status = fields.String(validate=validate.OneOf(["idle", "busy", "interrupted", "error"]))


# --- runs -------------------------------------------------------------------------------------


class CommandSchema(StrictSchema):
    resume = fields.Raw(allow_none=True)
    update = fields.Raw(allow_none=True)
    goto = fields.Raw(allow_none=True)


class CheckpointSchema(StrictSchema):
    thread_id = fields.String()
    checkpoint_ns = fields.String()
    checkpoint_id = fields.String(allow_none=True)
    checkpoint_map = fields.Dict(allow_none=True)


class RunCreateSchema(StrictSchema):
    """``POST /threads/{thread_id}/runs`` and ``POST /runs`` (``langgraph_sdk`` ``runs.create``)."""

    NOT_SUPPORTED = (
        "webhook",
        "after_seconds",
        "langsmith_tracer",
        "feedback_keys",
        "stream_resumable",
    )
    assistant_id = fields.String(required=True, validate=validate.Length(min=1))
    input = fields.Raw(allow_none=True)
    command = fields.Nested(CommandSchema, allow_none=True)
    stream_mode = fields.Raw()
    stream_subgraphs = JSONBoolean()
    stream_resumable = JSONBoolean()
    config = fields.Nested(ConfigSchema)
    context = _json_object()
    metadata = _json_object()
    interrupt_before = fields.Raw()
    interrupt_after = fields.Raw()
    webhook = fields.String()
    checkpoint = fields.Nested(CheckpointSchema)
    checkpoint_id = fields.String()
    checkpoint_during = JSONBoolean()
    multitask_strategy = fields.String(validate=validate.OneOf(["reject", "enqueue"]))
    if_not_exists = fields.String(validate=validate.OneOf(["create", "reject"]))
    on_completion = fields.String(validate=validate.OneOf(["delete", "keep"]))
    on_disconnect = fields.String(validate=validate.OneOf(["cancel", "continue"]))
    after_seconds = fields.Float()
    durability = fields.String(validate=validate.OneOf(["sync", "async", "exit"]))
    strict_resume = JSONBoolean()
    langsmith_tracer = fields.Raw()
    feedback_keys = fields.Raw()

    @validates_schema
    def _check_shapes(self, data: dict, **_: Any) -> None:
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
        if data.get("input") is not None and data.get("command") is not None:
            raise ValidationError({"command": ["give either input or command, not both"]})


class RunListQuerySchema(StrictSchema):
    limit = _limit(strict=False)
    offset = _offset(strict=False)
    status = fields.String(
        validate=validate.OneOf(
            ["pending", "running", "success", "error", "timeout", "interrupted"]
        )
    )
    select = _select(RUN_FIELDS)


class CancelQuerySchema(StrictSchema):
    wait = fields.Boolean(load_default=False)
    action = fields.String(
        load_default="interrupt", validate=validate.OneOf(["interrupt", "rollback"])
    )


class EmptyQuerySchema(StrictSchema):
    pass


class JoinStreamQuerySchema(StrictSchema):
    # checked in the view: langgraph-sdk sends an unset stream_mode as an empty string
    stream_mode = fields.List(fields.String())
    cancel_on_disconnect = fields.Boolean(load_default=False)


class ThreadStreamQuerySchema(StrictSchema):
    stream_mode = fields.String(
        load_default="run_modes",
        validate=validate.OneOf(["run_modes", "lifecycle", "state_update"]),
    )
