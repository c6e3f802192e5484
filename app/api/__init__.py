"""The HTTP API: one blueprint per resource, routes and JSON shapes of the official server as
``langgraph-sdk`` calls them."""

from __future__ import annotations

from flask import Flask, Response
from flask_smorest import Api

from app.api import (
    assistants,
    crons,
    memory,
    run_creation,
    runs,
    streams,
    system,
    tasks,
    thread_state,
    thread_stream,
    threads,
)
from app.api.errors import register_error_handlers
from app.api.limits import register_limits


def register_api(app: Flask) -> Api:
    register_limits(app)
    api = Api(app)
    for blueprint in (
        system.blp,
        assistants.blp,
        threads.blp,
        thread_state.blp,
        run_creation.blp,
        runs.blp,
        streams.blp,
        crons.blp,
        memory.blp,
        thread_stream.blp,
        tasks.blp,
    ):
        api.register_blueprint(blueprint)
    app.after_request(_no_content_type_without_content)
    thread_stream.sock.init_app(app)  # the WebSocket transport of the thread-streaming protocol
    register_error_handlers(app)  # after Api(), so these handlers win over flask-smorest's
    return api


def _no_content_type_without_content(response: Response) -> Response:
    """An answer without a body (a 204, a cancel's 202) has no ``Content-Type`` (Flask would
    say ``text/html``), as the official server answers."""
    if response.status_code == 204 or (not response.is_streamed and response.content_length == 0):
        response.headers.pop("Content-Type", None)
    return response
