"""Callboard's web application: ``gunicorn "app:create_app()"``.

The OpenAPI document is generated from the marshmallow schemas by flask-smorest and served at
``/openapi.json``; ``/docs`` is Swagger UI on it, with its assets served by this app from the
``swagger-ui-bundle`` package (``/docs/assets/…``), so the docs work without the internet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, send_from_directory

from app import logs
from app.config import Settings

# a CDN, only if the swagger-ui-bundle package is missing
_SWAGGER_UI_CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist/"
DOCS_ASSETS_PATH = "/docs/assets/"


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app: load the graph registry, connect to Postgres and Redis, register
    the API. Raises ``ConfigurationError``/``GraphLoadError`` when the registry is bad."""
    # imported here: prometheus-client reads PROMETHEUS_MULTIPROC_DIR when it is first imported,
    # and gunicorn.conf.py sets it after importing app.config (this package)
    from app import cors, metrics
    from app.api import register_api
    from app.api.access import register_auth
    from app.api.limits import DepthCheckedJSONProvider
    from app.auth import Authenticator
    from app.custom_routes import mount_user_app
    from app.dashboard import register_dashboard
    from app.services import Services

    if settings is None:  # the process's own configuration: its logging too (app/logs.py)
        settings = Settings.from_env()
        logs.configure(settings)
    app = Flask("callboard", static_folder=None)
    assets = _swagger_ui_assets()
    app.config.update(
        API_TITLE="Callboard",
        API_VERSION="0.1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=DOCS_ASSETS_PATH if assets else _SWAGGER_UI_CDN,
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Self-hosted run-execution service for LangGraph graphs: the HTTP API of "
                    "the official LangGraph server, as langgraph-sdk calls it."
                )
            }
        },
        MAX_CONTENT_LENGTH=10 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.json = DepthCheckedJSONProvider(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    services = Services.build(settings)
    app.extensions["callboard"] = services
    cors.init_app(app, settings, services.registry.http_cors)
    metrics.init_app(app)  # first: its clock starts before any other hook can answer
    deployment = services.registry.deployment
    register_auth(
        app,
        Authenticator.load(
            deployment.auth if deployment is not None else None,
            Path(services.registry.path).parent,
            settings.api_keys,
        ),
    )
    register_api(app)
    register_dashboard(app)
    if deployment is not None and deployment.http_app:  # langgraph.json http.app
        mount_user_app(app, deployment.http_app, deployment.base)
    if assets:
        _serve_docs_assets(app, assets)
    return app


def _swagger_ui_assets() -> str | None:
    """Directory of Swagger UI's files (``swagger-ui-bundle``), None if not installed."""
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    return str(swagger_ui_bundle.swagger_ui_path)


def _serve_docs_assets(app: Flask, directory: str) -> None:
    def docs_asset(filename: str) -> Any:
        return send_from_directory(directory, filename, max_age=86_400)

    app.add_url_rule(f"{DOCS_ASSETS_PATH}<path:filename>", "docs_asset", docs_asset)
