"""Callboard's web application: ``gunicorn "app:create_app()"``."""

from __future__ import annotations

import logging

from flask import Flask

from app.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app: load the graph registry, connect to Postgres and Redis, register
    the API. Raises ``ConfigurationError``/``GraphLoadError`` when the registry is bad."""
    from app.api import register_api
    from app.services import Services

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s [%(process)d] %(name)s %(message)s"
    )
    settings = settings or Settings.from_env()
    app = Flask("callboard")
    app.config.update(
        API_TITLE="Callboard",
        API_VERSION="0.1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        MAX_CONTENT_LENGTH=10 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["callboard"] = Services.build(settings)
    register_api(app)
    return app
