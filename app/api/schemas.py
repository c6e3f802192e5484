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


class JSONNumber(fields.Float):
    """A number of a JSON body: an integer or a decimal, finite; not a string, not a boolean."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


# the longest delayed start of a run (``after_seconds``): 365 days
MAX_AFTER_SECONDS = 365 * 24 * 3600


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
    NOT_SUPPORTED = ("supersteps",)
    thread_id = UUIDString()
    metadata = _json_object()
    if_exists = fields.String(
        load_default="raise", validate=validate.OneOf(["raise", "do_nothing"])
    )
    supersteps = fields.Raw()
    ttl = fields.Nested("ThreadTtlSchema")


class ThreadPatchSchema(StrictSchema):
    metadata = fields.Dict(keys=fields.String(), required=True)
    ttl = fields.Nested("ThreadTtlSchema")


class ThreadSearchSchema(StrictSchema):
    metadata = _json_object()
    values = _json_object()
    ids = fields.List(UUIDString())
    status = fields.String(validate=validate.OneOf(["idle", "busy", "interrupted", "error"]))
    limit = _limit()
    offset = _offset()
    sort_by = fields.String(
        load_default="created_at",
        validate=validate.OneOf(
            ["thread_id", "status", "created_at", "updated_at", "state_updated_at"]
        ),
    )
    sort_order = fields.String(load_default="desc", validate=validate.OneOf(SORT_ORDERS))
    select = _select(THREAD_FIELDS)
    # {alias: "values.a.b[0]"}: checked in app/api/threads.py (extract_paths)
    extract = fields.Dict(keys=fields.String(), values=fields.String())


class ThreadCountSchema(StrictSchema):
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
    context = _json_object()
    metadata = _json_object()
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
    # checked in the view (app/api/streams.py): ``stream_mode`` repeated, as langgraph-sdk sends
    # it, or ``stream_modes`` comma-separated, as the official server reads it
    stream_mode = fields.List(fields.String())
    stream_modes = fields.List(fields.String())


# --- crons ------------------------------------------------------------------------------------

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
    metadata = _json_object()
    config = fields.Nested(ConfigSchema)
    context = _json_object()
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
    metadata = _json_object()
    limit = _limit()
    offset = _offset()
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
    select = _select(CRON_FIELDS)


class CronCountSchema(StrictSchema):
    """``POST /runs/crons/count``: the filters of ``CronSearchSchema``."""

    assistant_id = fields.String(validate=validate.Length(min=1))
    thread_id = UUIDString()
    enabled = JSONBoolean()
    metadata = _json_object()


# --- thread TTL, copy/prune, state and history (app/api/threads.py, app/api/thread_state.py) ---

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


def _minutes(**kwargs: Any) -> JSONNumber:
    """A time-to-live in minutes: more than 0, at most about 19 years."""
    return JSONNumber(validate=validate.Range(min=0, min_inclusive=False, max=1e7), **kwargs)


class ThreadTtlSchema(StrictSchema):
    """A thread's ``ttl``: ``{"ttl": minutes, "strategy": "delete" | "keep_latest"}`` (the SDK
    sends a bare number of minutes in this form)."""

    ttl = _minutes(required=True)
    strategy = fields.String(
        load_default="delete", validate=validate.OneOf(["delete", "keep_latest"])
    )


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

    limit = _limit()
    before = fields.Raw()
    metadata = _json_object()
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

    limit = _limit(strict=False)
    before = fields.String(validate=validate.Length(min=1))


class AssistantSubgraphsQuerySchema(StrictSchema):
    """``GET /assistants/{id}/subgraphs[/{namespace}]``."""

    recurse = fields.Boolean(load_default=False)


# --- store (app/api/store.py) -----------------------------------------------------------------


def _namespace(required: bool = False, allow_none: bool = False) -> fields.List:
    """A namespace: a list of non-empty labels without ``.`` (the SDK's and the store's rule)."""

    def labels(value: list[str]) -> None:
        bad = [label for label in value if not label or "." in label]
        if bad:
            raise ValidationError(
                f"namespace labels must be non-empty strings without periods: {bad}"
            )

    return fields.List(
        fields.String(), required=required, allow_none=allow_none, validate=labels
    )


class StorePutSchema(StrictSchema):
    """``PUT /store/items``: ``ttl`` in minutes (null: never expires); ``index`` false or a list
    of field paths (used only by a store with a vector index, which Callboard does not set)."""

    namespace = _namespace(required=True)
    key = fields.String(required=True, validate=validate.Length(min=1))
    value = fields.Dict(keys=fields.String(), required=True)
    index = fields.Raw(allow_none=True)
    ttl = _minutes(allow_none=True)

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
    filter = _json_object()
    limit = _limit()
    offset = _offset()
    query = fields.String(allow_none=True)
    refresh_ttl = JSONBoolean(allow_none=True)


class StoreNamespacesSchema(StrictSchema):
    """``POST /store/namespaces``."""

    prefix = _namespace(allow_none=True)
    suffix = _namespace(allow_none=True)
    max_depth = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1))
    limit = _limit(default=100)
    offset = _offset()


# --- runs: batch and bulk cancel (app/api/runs.py) --------------------------------------------


class RunBatchItemSchema(RunCreateSchema):
    """One run of ``POST /runs/batch`` (``langgraph_sdk`` ``runs.create_batch``,
    ``schema.RunCreate``): a run-create body; with a ``thread_id`` the run is created on that
    thread, without one (or null) it is stateless."""

    thread_id = UUIDString(allow_none=True)


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
