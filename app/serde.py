"""JSON for values that graphs produce: rows, LangGraph state, LangChain messages.

``dumps`` never fails on an unknown object: pydantic models and dataclasses become dicts, other
objects their ``str``; UUIDs and datetimes their standard text forms (ISO 8601).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import uuid
from typing import Any


def default(obj: Any) -> Any:
    """``json.dumps(default=...)`` hook."""
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, (datetime.datetime, datetime.date)):
        return obj.isoformat()
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return str(obj)


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=default, separators=(",", ":"))


def jsonable(obj: Any) -> Any:
    """``obj`` made of JSON types only (a round trip through ``dumps``)."""
    return json.loads(dumps(obj))
