"""Fields and base schemas every resource's schemas share.

Unknown fields are rejected (marshmallow's ``RAISE``): a client never has a field silently
dropped. Fields the official API defines but Callboard does not do yet are declared (so the
OpenAPI spec shows them) and refused with a 422 that names them (``NOT_SUPPORTED``).
"""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

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


class JSONNumber(fields.Float):
    """A number of a JSON body: an integer or a decimal, finite; not a string, not a boolean."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class JSONBoolean(fields.Boolean):
    """A boolean of a JSON body: ``true`` or ``false`` only (not "yes", 1, …; query strings,
    which are text, use ``fields.Boolean``)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def json_object() -> fields.Dict:
    """A JSON object (string keys) or null."""
    return fields.Dict(keys=fields.String(), allow_none=True)


def page_limit(default: int = 10, strict: bool = True) -> fields.Integer:
    """A page size, 1 to 1000. ``strict``: JSON bodies must send a number; query strings are
    text and are parsed."""
    return fields.Integer(
        load_default=default, validate=validate.Range(min=1, max=1000), strict=strict
    )


def page_offset(strict: bool = True) -> fields.Integer:
    """A page offset, 0 or more (``strict`` as ``page_limit``'s)."""
    return fields.Integer(load_default=0, validate=validate.Range(min=0), strict=strict)


def selection(names: tuple[str, ...]) -> fields.List:
    """``select``: the fields to keep of each item; an unknown name is refused even when
    nothing matches."""

    def known(value: list[str]) -> None:
        unknown = [v for v in value if v not in names]
        if unknown:
            raise ValidationError(f"cannot select unknown field(s): {unknown}")

    return fields.List(fields.String(), validate=known)


def minutes(**kwargs: Any) -> JSONNumber:
    """A time-to-live in minutes: more than 0, at most about 19 years."""
    return JSONNumber(validate=validate.Range(min=0, min_inclusive=False, max=1e7), **kwargs)


class ConfigSchema(StrictSchema):
    """A LangGraph ``RunnableConfig``. ``configurable.run_timeout_seconds`` (a positive number)
    overrides ``RUN_TIMEOUT_SECONDS`` for the runs of an assistant, or for one run."""

    tags = fields.List(fields.String())
    recursion_limit = fields.Integer(strict=True, validate=validate.Range(min=1))
    configurable = json_object()
    metadata = json_object()

    @validates_schema
    def _check_timeout(self, data: dict, **_: Any) -> None:
        timeout = (data.get("configurable") or {}).get("run_timeout_seconds")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise ValidationError(
                {"configurable": ["run_timeout_seconds must be a positive number of seconds"]}
            )


class CheckpointSchema(StrictSchema):
    """A checkpoint of a thread: its id and namespace (a subgraph's), as LangGraph's config."""

    thread_id = fields.String()
    checkpoint_ns = fields.String()
    checkpoint_id = fields.String(allow_none=True)
    checkpoint_map = fields.Dict(allow_none=True)
