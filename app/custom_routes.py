"""``langgraph.json`` ``http.app``: the user's own Flask app or Blueprint served beside the API.

``"http": {"app": "./my_app.py:app"}`` names a ``flask.Flask`` app or a ``flask.Blueprint`` (a
Blueprint is registered on an app of its own). Each request is matched against the user's URL map
first: a path and method it routes go to the user's app, everything else to the API. So the
user's routes win on conflicts, as the official server documents for ``http.app`` ("Custom routes
take priority over the default routes": langgraph-cli ``HttpConfig.app``, "it can override or
extend the default routes"); a path the user routes for other methods only (a ``GET /threads``
of theirs) still reaches the API for the others (``POST /threads``).

The API's request hooks (CORS, auth) do not run for the user's routes: the user's app brings its
own, as a Starlette app mounted beside the official server does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from app.errors import ConfigurationError

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def load_user_app(source: str, base: Any) -> Flask:
    """The Flask app that ``source`` (``file.py:attr``, relative to ``base``) names, a Blueprint
    being registered on a new app.

    Raises:
        ConfigurationError: the object is neither a Flask app nor a Blueprint (an ASGI app such
            as FastAPI or Starlette cannot run in Callboard's WSGI web process).
        GraphLoadError: it cannot be imported.
    """
    from app.graphs import import_object

    obj = import_object(source, base)
    if isinstance(obj, Flask):
        return obj
    if isinstance(obj, Blueprint):
        user_app = Flask(f"callboard_http_app_{obj.name}")
        user_app.register_blueprint(obj)
        return user_app
    raise ConfigurationError(
        f"http.app {source!r} is a {type(obj).__name__}; Callboard's web process is WSGI "
        "(gunicorn + Flask) and serves a flask.Flask app or a flask.Blueprint"
    )


class CustomRoutes:
    """WSGI dispatcher: the user's app for the routes it has, the API for the rest."""

    def __init__(self, api: WsgiApp, user_app: Flask) -> None:
        self.api = api
        self.user_app = user_app

    def routes(self, environ: dict[str, Any]) -> bool:
        """Whether the user's app has a route for this request's path and method."""
        adapter = self.user_app.url_map.bind_to_environ(environ)
        try:
            adapter.match()
        except RequestRedirect:
            return True  # the user's route with or without its trailing slash
        except (NotFound, MethodNotAllowed):
            return False
        return True

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.routes(environ):
            return self.user_app.wsgi_app(environ, start_response)
        return self.api(environ, start_response)


def mount_user_app(app: Flask, source: str, base: Any) -> Flask:
    """Serve the user's app named by ``source`` beside ``app`` (see the module's docstring);
    returns the user's app."""
    user_app = load_user_app(source, base)
    app.wsgi_app = CustomRoutes(app.wsgi_app, user_app)  # type: ignore[method-assign]
    app.extensions["callboard_http_app"] = user_app
    return user_app
