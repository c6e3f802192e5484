"""The OpenAPI document (``/openapi.json``, generated from the marshmallow schemas by
flask-smorest) and the browsable docs (``/docs``), against the Flask app in-process on the
test's own Postgres database and Redis DB.

What is proved: the document is served and valid OpenAPI; it lists every route of the app and
nothing else; ``/docs`` and its assets are served by the app itself (no internet needed); every
request body (and query string) is validated against it, an unknown field being a 422 that
names it; and schemathesis, generating requests from the document (valid ones and invalid
ones), never gets a 5xx.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable

pytestmark = pytest.mark.timeout(600)

HTTP_METHODS = ("get", "put", "post", "patch", "delete")
# routes that serve the documentation itself, not the API
DOCS_ENDPOINTS = {"api-docs.openapi_json", "api-docs.openapi_swagger_ui", "docs_asset"}
# the operator's HTML page (app/dashboard), not an operation of the API
DOCS_ENDPOINTS |= {"dashboard.dashboard", "dashboard.static"}
# Prometheus' scrape target (text exposition format, app/metrics.py), not an operation of the API
DOCS_ENDPOINTS |= {"metrics"}
UNKNOWN = "zzz_not_a_field"
# requests schemathesis sends per operation and generation mode (keeps the test to ~1 minute)
EXAMPLES_PER_OPERATION = 12


def _spec(client: Any) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def _openapi_path(rule: str) -> str:
    """``/threads/<thread_id>/x/<path:ns>`` → ``/threads/{thread_id}/x/{ns}``."""
    return re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule)


def _fill(path: str) -> str:
    """A concrete URL for a documented path: every parameter a fresh UUID (nothing exists)."""
    return re.sub(r"\{[a-z_]+\}", lambda _: str(uuid.uuid4()), path)


def test_the_document_is_served_and_valid_openapi(client: Any) -> None:
    spec = _spec(client)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Callboard"
    schemathesis.openapi.from_dict(spec).validate()  # the OpenAPI 3.0 meta-schema
    # the request bodies are the marshmallow schemas, with their constraints
    create = spec["paths"]["/threads/{thread_id}/runs"]["post"]
    body_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = spec["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert "assistant_id" in body["required"]
    assert body["additionalProperties"] is False  # unknown fields are refused


def test_the_document_lists_every_route_of_the_app(app: Any, client: Any) -> None:
    routes = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in DOCS_ENDPOINTS
        # a WebSocket (the thread-streaming protocol's) is no HTTP operation in OpenAPI 3.0
        and not rule.websocket
        for method in rule.methods or ()
        if method.lower() in HTTP_METHODS
    }
    documented = {(path, method) for path, method, _ in _operations(_spec(client))}
    assert routes - documented == set(), "routes missing from /openapi.json"
    assert documented - routes == set(), "documented operations the app does not serve"
    # the routes the official SDK calls for streaming and waiting are among them
    assert {
        ("/threads/{thread_id}/runs/stream", "post"),
        ("/runs/stream", "post"),
        ("/threads/{thread_id}/runs/{run_id}/stream", "get"),
        ("/threads/{thread_id}/stream", "get"),
        ("/threads/{thread_id}/runs/wait", "post"),
        ("/runs/wait", "post"),
    } <= documented


def test_the_docs_page_and_its_assets_are_served_by_the_app(client: Any) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
    assert '"/openapi.json"' in html
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.get_data()) > 1000, asset
        response.close()
    assert client.get("/docs/assets/no-such-file.js").status_code == 404


def test_every_body_and_query_refuses_an_unknown_field_by_name(client: Any) -> None:
    spec = _spec(client)
    checked = 0
    for path, method, operation in _operations(spec):
        url = _fill(path)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            schema = body["schema"]
            if "$ref" in schema:
                schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            payload: Any = {UNKNOWN: 1}
            if schema.get("type") == "array":
                payload = [payload]
            response = client.open(url, method=method.upper(), json=payload)
            assert response.status_code == 422, (method, path, response.get_data(as_text=True))
            assert UNKNOWN in response.get_json()["detail"], (method, path)
            checked += 1
        # (with a body too, the body's own errors may be reported first: checked above)
        if body is None and any(p["in"] == "query" for p in operation.get("parameters", [])):
            response = client.open(url, method=method.upper(), query_string={UNKNOWN: "1"})
            assert response.status_code == 422, (method, path, response.get_data(as_text=True))
            assert UNKNOWN in response.get_json()["detail"], (method, path)
            checked += 1
    assert checked > 30


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_schemathesis_finds_no_5xx(app: Any, mode: schemathesis.GenerationMode) -> None:
    """Requests generated from the document (``positive``: valid per the schemas, ``negative``:
    violating them) never get a 5xx. Deterministic (derandomized), bounded per operation."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    failures: list[str] = []
    tried = 0

    for result in schema.get_all_operations():
        operation = result.ok()

        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(mode))
        def call(case: schemathesis.Case) -> None:
            response = case.call()
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} query={case.query!r} "
                    f"body={case.body!r} -> {response.status_code} {response.text[:200]}"
                )

        try:
            call()
        except Unsatisfiable:
            # negative mode on an operation with nothing to get wrong (no parameters, no body)
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.path
            continue
        tried += 1
    assert tried > 30
    assert failures == []
