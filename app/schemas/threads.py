"""Schemas of ``/threads`` (``app/api/threads.py``) and of the thread stream
(``GET /threads/{id}/stream``, ``app/api/streams.py``)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from app.schemas.base import (
    SORT_ORDERS,
    StrictSchema,
    UUIDString,
    json_object,
    minutes,
    page_limit,
    page_offset,
    selection,
)

# the fields of a thread as answered (``app/api/common.py``: dump_thread)
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


class ThreadTtlSchema(StrictSchema):
    """A thread's ``ttl``: ``{"ttl": minutes, "strategy": "delete" | "keep_latest"}`` (the SDK
    sends a bare number of minutes in this form)."""

    ttl = minutes(required=True)
    strategy = fields.String(
        load_default="delete", validate=validate.OneOf(["delete", "keep_latest"])
    )


class ThreadCreateSchema(StrictSchema):
    NOT_SUPPORTED = ("supersteps",)
    thread_id = UUIDString()
    metadata = json_object()
    if_exists = fields.String(
        load_default="raise", validate=validate.OneOf(["raise", "do_nothing"])
    )
    supersteps = fields.Raw()
    ttl = fields.Nested(ThreadTtlSchema)


class ThreadPatchSchema(StrictSchema):
    metadata = fields.Dict(keys=fields.String(), required=True)
    ttl = fields.Nested(ThreadTtlSchema)


class ThreadSearchSchema(StrictSchema):
    metadata = json_object()
    values = json_object()
    ids = fields.List(UUIDString())
    status = fields.String(validate=validate.OneOf(["idle", "busy", "interrupted", "error"]))
    limit = page_limit()
    offset = page_offset()
    sort_by = fields.String(
        load_default="created_at",
        validate=validate.OneOf(
            ["thread_id", "status", "created_at", "updated_at", "state_updated_at"]
        ),
    )
    sort_order = fields.String(load_default="desc", validate=validate.OneOf(SORT_ORDERS))
    select = selection(THREAD_FIELDS)
    # {alias: "values.a.b[0]"}: checked in app/api/threads.py (extract_paths)
    extract = fields.Dict(keys=fields.String(), values=fields.String())


class ThreadCountSchema(StrictSchema):
    metadata = json_object()
    values = json_object()
    status = fields.String(validate=validate.OneOf(["idle", "busy", "interrupted", "error"]))


def _includable(value: str) -> None:
    unknown = [p.strip() for p in value.split(",") if p.strip() not in ("", "ttl")]
    if unknown:
        raise ValidationError(f"only 'ttl' can be included, not {unknown}")


class ThreadGetQuerySchema(StrictSchema):
    """``GET /threads/{id}``: ``include=ttl`` adds the thread's TTL to the answer."""

    include = fields.String(validate=_includable)


class ThreadPruneSchema(StrictSchema):
    """``POST /threads/prune``."""

    thread_ids = fields.List(UUIDString(), required=True)
    strategy = fields.String(
        load_default="delete", validate=validate.OneOf(["delete", "keep_latest"])
    )


class ThreadStreamQuerySchema(StrictSchema):
    # checked in the view (app/api/streams.py): ``stream_mode`` repeated, as langgraph-sdk sends
    # it, or ``stream_modes`` comma-separated, as the official server reads it
    stream_mode = fields.List(fields.String())
    stream_modes = fields.List(fields.String())
