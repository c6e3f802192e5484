"""Schemas of the long-term memory store's routes (``/store/...``, ``app/api/memory.py``)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.schemas.base import (
    JSONBoolean,
    StrictSchema,
    json_object,
    minutes,
    page_limit,
    page_offset,
)


def _namespace(required: bool = False, allow_none: bool = False) -> fields.List:
    """A namespace: a list of non-empty labels without ``.`` (the SDK's and the store's rule)."""

    def labels(value: list[str]) -> None:
        bad = [label for label in value if not label or "." in label]
        if bad:
            raise ValidationError(
                f"namespace labels must be non-empty strings without periods: {bad}"
            )

    return fields.List(fields.String(), required=required, allow_none=allow_none, validate=labels)


class StorePutSchema(StrictSchema):
    """``PUT /store/items``: ``ttl`` in minutes (null: never expires); ``index`` false or a list
    of field paths (used only by a store with a vector index, which Callboard does not set)."""

    namespace = _namespace(required=True)
    key = fields.String(required=True, validate=validate.Length(min=1))
    value = fields.Dict(keys=fields.String(), required=True)
    index = fields.Raw(allow_none=True)
    ttl = minutes(allow_none=True)

    @validates_schema
    def _check_index(self, data: dict, **_: Any) -> None:
        index = data.get("index")
        if index is None or index is False:
            return
        if not (isinstance(index, list) and all(isinstance(i, str) for i in index)):
            raise ValidationError({"index": ["must be false, null or a list of field paths"]})


class StoreGetQuerySchema(StrictSchema):
    """``GET /store/items?namespace=a.b&key=k``: the namespace's labels joined by ``.``."""

    namespace = fields.String(load_default="")
    key = fields.String(required=True, validate=validate.Length(min=1))
    refresh_ttl = fields.Boolean(allow_none=True)


class StoreDeleteSchema(StrictSchema):
    """``DELETE /store/items`` (a JSON body)."""

    namespace = _namespace(required=True)
    key = fields.String(required=True, validate=validate.Length(min=1))


class StoreSearchSchema(StrictSchema):
    """``POST /store/items/search``: ``query`` needs a vector index, which Callboard's store does
    not have: it is accepted and ignored (items come newest first, filtered)."""

    namespace_prefix = _namespace(allow_none=True)
    filter = json_object()
    limit = page_limit()
    offset = page_offset()
    query = fields.String(allow_none=True)
    refresh_ttl = JSONBoolean(allow_none=True)


class StoreNamespacesSchema(StrictSchema):
    """``POST /store/namespaces``."""

    prefix = _namespace(allow_none=True)
    suffix = _namespace(allow_none=True)
    max_depth = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1))
    limit = page_limit(default=100)
    offset = page_offset()
