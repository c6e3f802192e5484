"""CORS, so that browsers (LangGraph Studio at https://smith.langchain.com, a web UI) can call the
API: flask-cors configured as the official server configures Starlette's ``CORSMiddleware``.

Which configuration applies (the official server's order, ``langgraph_api.config``):

1. ``CORS_CONFIG`` (a JSON object in the environment), else ``http.cors`` of ``langgraph.json``:
   Starlette ``CORSMiddleware`` arguments, with Starlette's defaults for those left out —
   ``allow_origins`` (list; ``["*"]`` = any), ``allow_origin_regex``, ``allow_methods``
   (default ``["GET"]``), ``allow_headers`` (default: only the CORS-safelisted ones),
   ``allow_credentials`` (default false), ``expose_headers``, ``max_age`` (seconds, default 600).
   Any other key stops start-up with its name.
2. Otherwise ``CORS_ALLOW_ORIGINS`` (comma-separated; default ``*``: any origin, as the official
   server), with credentials, every method and header allowed, and the headers clients read
   exposed (``Location``, ``Content-Location``, ``X-Pagination-*``).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask_cors import CORS

from app.config import Settings
from app.errors import ConfigurationError

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Starlette always allows these request headers (the CORS-safelisted ones)
SAFELISTED_HEADERS = ["Accept", "Accept-Language", "Content-Language", "Content-Type"]
EXPOSED_HEADERS = ["Location", "Content-Location", "X-Pagination-Total", "X-Pagination-Next"]
STARLETTE_KEYS = {
    "allow_origins",
    "allow_origin_regex",
    "allow_methods",
    "allow_headers",
    "allow_credentials",
    "expose_headers",
    "max_age",
}


def flask_cors_options(settings: Settings, http_cors: dict[str, Any] | None) -> dict[str, Any]:
    """The ``flask_cors.CORS`` keyword arguments for ``settings`` (``cors_config``,
    ``cors_allow_origins``) and the registry's ``http.cors`` (see the module's docstring).

    Raises:
        ConfigurationError: an unknown key, or a value of the wrong type.
    """
    config = settings.cors_config if settings.cors_config is not None else http_cors
    if config is None:
        origins = list(settings.cors_allow_origins)
        return {
            "origins": "*" if "*" in origins else origins,
            "methods": ALL_METHODS,
            "allow_headers": "*",
            "supports_credentials": True,
            "expose_headers": EXPOSED_HEADERS,
        }
    unknown = sorted(set(config) - STARLETTE_KEYS)
    if unknown:
        raise ConfigurationError(
            f"unknown CORS setting(s) {', '.join(unknown)}; expected {sorted(STARLETTE_KEYS)}"
        )
    origins_list: list[Any] = list(_strings(config, "allow_origins", []))
    if config.get("allow_origin_regex"):
        origins_list.append(re.compile(str(config["allow_origin_regex"])))
    methods = _strings(config, "allow_methods", ["GET"])
    headers = _strings(config, "allow_headers", [])
    max_age = config.get("max_age", 600)
    if not isinstance(max_age, int) or isinstance(max_age, bool):
        raise ConfigurationError(f"CORS max_age must be an integer (seconds), got {max_age!r}")
    return {
        "origins": "*" if "*" in origins_list else origins_list,
        "methods": ALL_METHODS if "*" in methods else methods,
        "allow_headers": "*" if "*" in headers else SAFELISTED_HEADERS + headers,
        "supports_credentials": bool(config.get("allow_credentials", False)),
        "expose_headers": _strings(config, "expose_headers", []),
        "max_age": max_age,
    }


def _strings(config: dict[str, Any], key: str, default: list[str]) -> list[str]:
    value = config.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"CORS {key} must be a list of strings, got {value!r}")
    return value


def init_app(app: Flask, settings: Settings, http_cors: dict[str, Any] | None) -> None:
    """Answer CORS preflights and add the CORS headers to every response of ``app``."""
    CORS(app, **flask_cors_options(settings, http_cors))
