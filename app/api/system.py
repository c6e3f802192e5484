"""``GET /ok`` (liveness) and ``GET /info`` (version and capabilities)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from app.api.common import services

blp = Blueprint("system", __name__, description="Health and server information")


@blp.route("/ok")
def ok() -> Any:
    """Liveness: 200 while this process answers (Postgres is checked with ``?check_db=1``)."""
    from flask import request

    if request.args.get("check_db") in ("1", "true"):
        services().db.fetch(
            "get_thread", {"thread_id": "00000000-0000-0000-0000-000000000000", "auth_filter": None}
        )
    return {"ok": True}


@blp.route("/info")
def info() -> Any:
    """Version and capabilities, in the official server's shape (``langgraph_api`` ``meta_info``:
    ``version``, ``langgraph_py_version``, ``flags``, ``host``), plus ``server`` and ``graphs``.
    Each flag says what this server does: assistants and crons are served; runs are not traced
    to LangSmith (``langsmith`` false)."""
    import langgraph.version

    return {
        "version": "0.1.0",
        "server": "callboard",
        "langgraph_py_version": getattr(langgraph.version, "__version__", None),
        "graphs": services().registry.ids,
        "flags": {"assistants": True, "crons": True, "langsmith": False},
        "host": {
            "kind": "self-hosted",
            "project_id": None,
            "host_revision_id": None,
            "revision_id": None,
            "tenant_id": None,
        },
    }
