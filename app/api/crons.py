"""Crons: create (on a thread, or stateless), get, patch, delete, search, count.

A cron stores a run-create payload and a schedule; the sweeper (``sweeper/crons.py``) creates one
run per occurrence. Creating or patching a cron checks that its payload builds a valid run
(``app.run_requests.build_run``), so an occurrence never fails on what the API accepted.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from flask import jsonify

from app.api.access import authorize, user_identity
from app.api.common import Blueprint, iso, paginated, resolve_assistant, select, services
from app.api.errors import parse_uuid
from app.api.threads import load_thread
from app.crons import Schedule, run_request, with_cron_id
from app.errors import InvalidInput, NotFound
from app.run_requests import build_run
from app.schemas.crons import (
    CronCountSchema,
    CronCreateSchema,
    CronPatchSchema,
    CronSearchSchema,
    ThreadCronCreateSchema,
)
from app.store import assistants as assistant_store
from app.store import crons as cron_store

blp = Blueprint("crons", __name__, description="Crons: runs created on a schedule")

# PATCH fields that move the next occurrence
_RESCHEDULING = ("schedule", "timezone", "end_time", "enabled")


def dump_cron(row: dict) -> dict[str, Any]:
    """A cron row as the official ``Cron`` JSON (``langgraph_sdk.schema.Cron``)."""
    return {
        "cron_id": str(row["cron_id"]),
        "assistant_id": str(row["assistant_id"]),
        "thread_id": str(row["thread_id"]) if row["thread_id"] else None,
        "user_id": row["user_id"] or "",  # the official server says "" without auth
        "end_time": iso(row["end_time"]),
        "schedule": row["schedule"],
        "timezone": row["timezone"],
        "payload": row["payload"],
        "next_run_date": iso(row["next_run_date"]),
        "metadata": row["metadata"],
        "on_run_completed": row["on_run_completed"],
        "enabled": row["enabled"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def _utc(value: datetime.datetime | None) -> datetime.datetime | None:
    """An ``end_time`` as an aware datetime (one without an offset is read as UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=datetime.UTC)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _check_runnable(assistant: dict, cron: dict) -> None:
    """Raise InvalidInput if an occurrence of ``cron`` (row-like) could not build its run."""
    build_run(assistant, run_request(cron), cron["thread_id"])


def create_cron(thread_id: uuid.UUID | None, body: dict) -> dict:
    """Insert the cron ``body`` (a ``CronCreateSchema``/``ThreadCronCreateSchema`` load) asks
    for; ``thread_id`` None = stateless.

    Raises:
        NotFound: unknown assistant or thread. InvalidInput: a payload that builds no run.
    """
    svc = services()
    assistant = resolve_assistant(body["assistant_id"])
    cron_id = uuid.uuid4()
    end_time = _utc(body.get("end_time"))
    value = {
        "payload": body,
        "schedule": body["schedule"],
        "cron_id": cron_id,
        "thread_id": thread_id,
        "user_id": user_identity(),
        "end_time": end_time,
        "metadata": dict(body.get("metadata") or {}),
    }
    authorize("crons", "create", value)
    if thread_id is not None:
        load_thread(thread_id, "read")
    payload = {**body, "assistant_id": str(assistant["assistant_id"])}
    payload["config"] = with_cron_id(body.get("config"), cron_id)
    if "end_time" in body:
        payload["end_time"] = iso(end_time)
    row = {
        "cron_id": cron_id,
        "assistant_id": assistant["assistant_id"],
        "thread_id": thread_id,
        "schedule": body["schedule"],
        "timezone": body.get("timezone"),
        "end_time": end_time,
        "payload": payload,
        "metadata": value["metadata"],
        "user_id": value["user_id"],
        "on_run_completed": None if thread_id else body.get("on_run_completed", "delete"),
        "enabled": body.get("enabled", True),
    }
    _check_runnable(assistant, row)
    schedule = Schedule.parse(row["schedule"], row["timezone"])
    row["next_run_date"] = schedule.next_until(_now(), end_time)
    return cron_store.insert(svc.db, **row)


@blp.route("/threads/<thread_id>/runs/crons", methods=["POST"])
@blp.arguments(ThreadCronCreateSchema)
def create_for_thread(body: dict, thread_id: str) -> Any:
    return dump_cron(create_cron(parse_uuid(thread_id, "thread"), body))


@blp.route("/runs/crons", methods=["POST"])
@blp.arguments(CronCreateSchema)
def create(body: dict) -> Any:
    return dump_cron(create_cron(None, body))


def _load_cron(cron_id: str, auth_action: str = "read") -> dict:
    """The cron, once ``crons.<auth_action>`` is authorized on it (``app.api.access``)."""
    cid = parse_uuid(cron_id, "cron")
    auth_filter = authorize("crons", auth_action, {"cron_id": cid})
    row = cron_store.get(services().db, cid, auth_filter)
    if row is None:
        raise NotFound(f"Cron {cid} not found")
    return row


@blp.route("/runs/crons/<cron_id>", methods=["GET"])
def get(cron_id: str) -> Any:
    return dump_cron(_load_cron(cron_id))


def _patched(row: dict, body: dict, assistant: dict) -> dict:
    """The new values of a cron's patchable columns after ``body`` (a ``CronPatchSchema``
    load). Raises InvalidInput for a field that does not fit the cron."""
    if "on_run_completed" in body and row["thread_id"] is not None:
        raise InvalidInput("on_run_completed applies to stateless crons (POST /runs/crons) only")
    values = {name: row[name] for name in cron_store.PATCHABLE}
    payload = dict(row["payload"])
    for key, value in body.items():
        if key == "metadata":
            values["metadata"] = {**row["metadata"], **(value or {})}
            payload["metadata"] = values["metadata"]
        elif key == "end_time":
            values["end_time"] = _utc(value)
            payload["end_time"] = iso(values["end_time"])
        elif key == "config":
            payload["config"] = with_cron_id(value, row["cron_id"])
        else:
            if key in values:
                values[key] = value
            payload[key] = value
    values["payload"] = payload
    if any(key in body for key in _RESCHEDULING):
        schedule = Schedule.parse(values["schedule"], values["timezone"])
        values["next_run_date"] = schedule.next_until(_now(), values["end_time"])
    _check_runnable(assistant, {**row, **values})
    return values


@blp.route("/runs/crons/<cron_id>", methods=["PATCH"])
@blp.arguments(CronPatchSchema)
def patch(body: dict, cron_id: str) -> Any:
    if not body:
        raise InvalidInput("Request body cannot be empty")
    svc = services()
    current = _load_cron(cron_id, "update")
    assistant = assistant_store.get(svc.db, current["assistant_id"])
    if assistant is None:  # deleted meanwhile: the cron went with it
        raise NotFound(f"Cron {cron_id} not found")
    row = cron_store.update(
        svc.db, current["cron_id"], lambda locked: _patched(locked, body, assistant)
    )
    if row is None:
        raise NotFound(f"Cron {cron_id} not found")
    return dump_cron(row)


@blp.route("/runs/crons/<cron_id>", methods=["DELETE"])
def delete(cron_id: str) -> Any:
    cid = _load_cron(cron_id, "delete")["cron_id"]
    if not cron_store.delete(services().db, cid):
        raise NotFound(f"Cron {cid} not found")
    return "", 204


def _assistant_filter(value: str | None) -> uuid.UUID | None:
    """An assistant UUID, or a graph id's default assistant (the SDK documents both)."""
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        if value not in services().registry:
            raise InvalidInput(
                f"Invalid assistant: {value!r}. Must be either a valid assistant UUID or one of "
                f"the registered graphs: {', '.join(services().registry.ids)}"
            ) from None
        return assistant_store.default_assistant_id(value)


@blp.route("/runs/crons/search", methods=["POST"])
@blp.arguments(CronSearchSchema)
def search(body: dict) -> Any:
    rows = cron_store.search(
        services().db,
        assistant_id=_assistant_filter(body.get("assistant_id")),
        thread_id=body.get("thread_id"),
        enabled=body.get("enabled"),
        metadata=body.get("metadata"),
        limit=body["limit"] + 1,
        offset=body["offset"],
        sort_by=body["sort_by"],
        sort_order=body["sort_order"],
        auth_filter=authorize("crons", "search", _search_value(body)),
    )
    items = [select(dump_cron(r), body.get("select")) for r in rows]
    return paginated(items, body["offset"], body["limit"])


def _search_value(body: dict) -> dict[str, Any]:
    """The ``value`` of ``crons.search`` (``langgraph_sdk.auth.types.CronsSearch``)."""
    fields = ("assistant_id", "thread_id", "limit", "offset")
    return {name: body[name] for name in fields if body.get(name) is not None}


@blp.route("/runs/crons/count", methods=["POST"])
@blp.arguments(CronCountSchema)
def count(body: dict) -> Any:
    return jsonify(
        cron_store.count(
            services().db,
            assistant_id=_assistant_filter(body.get("assistant_id")),
            thread_id=body.get("thread_id"),
            enabled=body.get("enabled"),
            metadata=body.get("metadata"),
            auth_filter=authorize("crons", "search", _search_value(body)),
        )
    )
