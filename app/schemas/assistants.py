"""Schemas of ``/assistants`` (``app/api/assistants.py``)."""

from __future__ import annotations

from marshmallow import fields, validate

from app.schemas.base import (
    SORT_ORDERS,
    ConfigSchema,
    StrictSchema,
    UUIDString,
    json_object,
    page_limit,
    page_offset,
    selection,
)

# the fields of an assistant as answered (``app/api/common.py``: dump_assistant)
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


class AssistantCreateSchema(StrictSchema):
    assistant_id = UUIDString()
    graph_id = fields.String(required=True, validate=validate.Length(min=1))
    config = fields.Nested(ConfigSchema, load_default=dict)
    context = json_object()
    metadata = json_object()
    if_exists = fields.String(
        load_default="raise", validate=validate.OneOf(["raise", "do_nothing"])
    )
    name = fields.String(validate=validate.Length(min=1, max=512))
    description = fields.String(allow_none=True)


class AssistantPatchSchema(StrictSchema):
    graph_id = fields.String(validate=validate.Length(min=1))
    config = fields.Nested(ConfigSchema)
    context = json_object()
    metadata = json_object()
    name = fields.String(validate=validate.Length(min=1, max=512))
    description = fields.String(allow_none=True)


class AssistantSearchSchema(StrictSchema):
    metadata = json_object()
    graph_id = fields.String()
    name = fields.String()
    limit = page_limit()
    offset = page_offset()
    sort_by = fields.String(
        load_default="created_at",
        validate=validate.OneOf(["assistant_id", "graph_id", "name", "created_at", "updated_at"]),
    )
    sort_order = fields.String(load_default="desc", validate=validate.OneOf(SORT_ORDERS))
    select = selection(ASSISTANT_FIELDS)


class AssistantCountSchema(StrictSchema):
    metadata = json_object()
    graph_id = fields.String()
    name = fields.String()


class AssistantVersionsSchema(StrictSchema):
    metadata = json_object()
    limit = page_limit()
    offset = page_offset()


class AssistantLatestSchema(StrictSchema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class AssistantSubgraphsQuerySchema(StrictSchema):
    """``GET /assistants/{id}/subgraphs[/{namespace}]``."""

    recurse = fields.Boolean(load_default=False)
