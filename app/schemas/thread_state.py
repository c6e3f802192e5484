"""Schemas of a thread's state and history (``app/api/thread_state.py``)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.schemas.base import CheckpointSchema, JSONBoolean, StrictSchema, json_object, page_limit

# the fields of a ``ThreadState`` as answered (``app/api/thread_state.py``: dump_state)
THREAD_STATE_FIELDS = (
    "values",
    "next",
    "tasks",
    "checkpoint",
    "metadata",
    "created_at",
    "parent_checkpoint",
    "interrupts",
    "checkpoint_id",
    "parent_checkpoint_id",
)


def _state_select() -> fields.List:
    """``select`` of a ``ThreadState``: its fields, or ``values.<key>`` for one state key."""

    def known(value: list[str]) -> None:
        unknown = [
            v
            for v in value
            if v not in THREAD_STATE_FIELDS and not (v.startswith("values.") and len(v) > 7)
        ]
        if unknown:
            raise ValidationError(f"cannot select unknown field(s): {unknown}")

    return fields.List(fields.String(), validate=known)


class ThreadStateQuerySchema(StrictSchema):
    """``GET /threads/{id}/state[/{checkpoint_id}]``."""

    subgraphs = fields.Boolean(load_default=False)
    select = _state_select()


class ThreadStateCheckpointSchema(StrictSchema):
    """``POST /threads/{id}/state/checkpoint``."""

    checkpoint = fields.Nested(CheckpointSchema, required=True)
    subgraphs = JSONBoolean(load_default=False)
    select = _state_select()


class ThreadStateUpdateSchema(StrictSchema):
    """``POST /threads/{id}/state``: ``values`` (an object, a list, or null) applied as if
    ``as_node`` had just run, on the latest checkpoint or on ``checkpoint``/``checkpoint_id``."""

    values = fields.Raw(required=True, allow_none=True)
    as_node = fields.String(validate=validate.Length(min=1))
    checkpoint = fields.Nested(CheckpointSchema)
    checkpoint_id = fields.String(validate=validate.Length(min=1))

    @validates_schema
    def _check_values(self, data: dict, **_: Any) -> None:
        if not isinstance(data.get("values"), (dict, list, type(None))):
            raise ValidationError({"values": ["must be an object, a list or null"]})


class ThreadHistorySchema(StrictSchema):
    """``POST /threads/{id}/history``: ``before`` is a checkpoint id or a checkpoint object."""

    limit = page_limit()
    before = fields.Raw()
    metadata = json_object()
    checkpoint = fields.Nested(CheckpointSchema)
    select = _state_select()

    @validates_schema
    def _check_before(self, data: dict, **_: Any) -> None:
        before = data.get("before")
        if before is None or (isinstance(before, str) and before):
            return
        if isinstance(before, dict):
            try:
                data["before"] = CheckpointSchema().load(before)
            except ValidationError as exc:
                raise ValidationError({"before": exc.messages}) from None
            return
        raise ValidationError({"before": ["must be a checkpoint id or a checkpoint object"]})


class ThreadHistoryQuerySchema(StrictSchema):
    """``GET /threads/{id}/history``."""

    limit = page_limit(strict=False)
    before = fields.String(validate=validate.Length(min=1))
