"""``/dashboard`` rendered by the app (Flask test client); the real-browser test is
tests/acceptance/test_dashboard.py."""

from __future__ import annotations

import dataclasses

import psycopg

from app import create_app
from tests import ops_scenario


def post_with(client):
    def post(path, body):
        response = client.post(path, json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return post


def test_dashboard_shows_the_scenario(client, settings):
    scenario = ops_scenario.build(
        post_with(client), settings.database_url, settings.redis_url, settings.heartbeat_seconds
    )
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE runs SET status = 'error', ended_at = now(), error = %s::jsonb"
            " WHERE run_id = %s",
            ('{"error": "RuntimeError", "message": "boom <b>"}', scenario.pending[0]),
        )
    response = client.get("/dashboard")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="queue-depth">4<' in html
    assert 'id="count-running">2<' in html and 'id="count-error">1<' in html
    assert 'id="lapsed-count">1<' in html
    assert f'id="running-{scenario.lapsed}" class="lapsed"' in html
    assert "RuntimeError: boom &lt;b&gt;" in html  # escaped
    assert scenario.cron_id in html and "*/5 * * * *" in html
    assert "https://hooks.example/run-ended" in html and "HTTP 503" in html
    assert '<svg id="throughput-chart"' in html and 'data-ended="1"' in html
    assert '<svg id="latency-chart"' in html

    only_errors = client.get("/dashboard?status=error").get_data(as_text=True)
    assert only_errors.count('<tr class="run status-') == 1
    assert 'data-status="error"' in only_errors and 'data-status="pending"' not in only_errors
    by_graph = client.get("/dashboard?graph_id=ticker").get_data(as_text=True)
    assert "No run matches." in by_graph
    css = client.get("/dashboard/static/dashboard.css")
    css.close()  # the file response
    assert css.status_code == 200 and css.mimetype == "text/css"


def test_bad_filters_are_a_422_with_detail(client):
    response = client.get("/dashboard?status=done")
    assert response.status_code == 422
    assert "status must be one of" in response.get_json()["detail"]
    assert client.get("/dashboard?limit=-3").status_code == 422
    assert client.get("/dashboard?refresh=abc").status_code == 422


def test_dashboard_can_be_turned_off(settings):
    app = create_app(dataclasses.replace(settings, dashboard=False))
    try:
        assert app.test_client().get("/dashboard").status_code == 404
    finally:
        app.extensions["callboard"].close()
