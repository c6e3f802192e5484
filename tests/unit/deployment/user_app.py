"""A user's own Flask app and Blueprint for ``http.app`` (tests/unit/test_deployment.py and
tests/integration/test_deployment.py)."""

from __future__ import annotations

from flask import Blueprint, Flask

app = Flask("user_app")


@app.get("/hello")
def hello() -> dict:
    return {"hello": "world"}


@app.get("/info")
def shadowed_info() -> dict:
    """Same path and method as the API's ``GET /info``: the user's route wins."""
    return {"from": "user_app"}


@app.get("/threads")
def threads_listing() -> dict:
    """A path the API routes for POST only: GET is the user's, POST stays the API's."""
    return {"threads": "user listing"}


blueprint = Blueprint("user_blueprint", __name__)


@blueprint.get("/custom/<name>")
def custom(name: str) -> dict:
    return {"name": name}


not_an_app = {"routes": []}
