"""``langgraph.json`` keys that act on a running web process: ``http.app``, ``store.index``,
``checkpointer.ttl`` (the parsing and refusals are in tests/unit/test_deployment.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import psycopg
import pytest

from app import create_app
from app.errors import ConfigurationError
from tests.conftest import TEST_REGISTRY

UNIT = Path(__file__).resolve().parent.parent / "unit" / "deployment"


def registry_with(tmp_path: Path, **keys: object) -> str:
    document = json.loads(Path(TEST_REGISTRY).read_text())
    base = Path(TEST_REGISTRY).parent
    document["graphs"] = {
        gid: str((base / src.split(":")[0]).resolve()) + ":" + src.split(":")[1]
        for gid, src in document["graphs"].items()
        if gid in ("noop", "memory")
    }
    document.update(keys)
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps(document))
    return str(path)


@pytest.fixture
def make_app(settings):
    apps = []

    def make(config_path: str):
        flask_app = create_app(dataclasses.replace(settings, config_path=config_path))
        apps.append(flask_app)
        return flask_app

    yield make
    for flask_app in apps:
        flask_app.extensions["callboard"].close()


@pytest.mark.parametrize("attr", ["app", "blueprint"])
def test_http_app_is_served_beside_the_api(tmp_path, make_app, attr):
    config = registry_with(tmp_path, http={"app": f"{UNIT / 'user_app.py'}:{attr}"})
    client = make_app(config).test_client()
    if attr == "app":
        assert client.get("/hello").get_json() == {"hello": "world"}
        # a conflict: the user's route wins (the official server's rule for http.app)
        assert client.get("/info").get_json() == {"from": "user_app"}
        assert client.get("/threads").get_json() == {"threads": "user listing"}
    else:
        assert client.get("/custom/ada").get_json() == {"name": "ada"}
        assert client.get("/info").get_json()["graphs"] == ["noop", "memory"]
    # what the user's app does not route is the API's
    created = client.post("/threads", json={})
    assert created.status_code == 200 and "thread_id" in created.get_json()
    assert client.get("/ok").get_json() == {"ok": True}
    assert client.get("/nowhere").status_code == 404


def test_http_app_that_is_not_flask_stops_start_up(tmp_path, make_app):
    config = registry_with(tmp_path, http={"app": f"{UNIT / 'user_app.py'}:not_an_app"})
    with pytest.raises(ConfigurationError, match="http.app .* is a dict"):
        make_app(config)


def _has_pgvector(database_url: str) -> bool:
    with psycopg.connect(database_url) as conn:
        return bool(
            conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
        )


def test_store_index_on_a_server_without_pgvector_stops_start_up(tmp_path, make_app, database_url):
    """The shared test server is Debian 12's PostgreSQL 15, which has no pgvector package: web
    and ``python -m migrations`` stop naming the extension. (Where a server has it, the store
    index works: tests/acceptance/test_store_index.py, on PostgreSQL 16 with pgvector.)"""
    config = registry_with(
        tmp_path, store={"index": {"dims": 3, "embed": f"{UNIT / 'embed.py'}:embed"}}
    )
    if _has_pgvector(database_url):
        return  # this server has it: the acceptance test covers what then happens
    with pytest.raises(ConfigurationError, match='extension "vector" \\(pgvector\\)'):
        make_app(config)
    from migrations.__main__ import store_index

    with pytest.raises(ConfigurationError, match='extension "vector"'):
        store_index(dataclasses.replace(make_settings(database_url), config_path=config))


def make_settings(database_url: str):
    from app.config import Settings

    return Settings(database_url=database_url, config_path=TEST_REGISTRY)


def test_checkpointer_ttl_is_the_default_ttl_of_new_threads(tmp_path, make_app):
    config = registry_with(
        tmp_path,
        checkpointer={
            "ttl": {"strategy": "keep_latest", "default_ttl": 90, "sweep_interval_minutes": 2}
        },
    )
    client = make_app(config).test_client()
    thread = client.post("/threads", json={}).get_json()
    ttl = client.get(f"/threads/{thread['thread_id']}?include=ttl").get_json()["ttl"]
    assert (ttl["strategy"], ttl["ttl_minutes"]) == ("keep_latest", 90)
    # a TTL given with the thread wins over the default
    own = client.post("/threads", json={"ttl": {"strategy": "delete", "ttl": 5}}).get_json()
    ttl = client.get(f"/threads/{own['thread_id']}?include=ttl").get_json()["ttl"]
    assert (ttl["strategy"], ttl["ttl_minutes"]) == ("delete", 5)

    # a thread a run creates (if_not_exists="create") gets it too
    new_thread = "6f1c5a2e-0000-4000-8000-000000000001"
    run = client.post(
        f"/threads/{new_thread}/runs",
        json={"assistant_id": "noop", "input": {}, "if_not_exists": "create"},
    )
    assert run.status_code == 200, run.get_json()
    ttl = client.get(f"/threads/{new_thread}?include=ttl").get_json()["ttl"]
    assert (ttl["strategy"], ttl["ttl_minutes"]) == ("keep_latest", 90)

    from app.config import Settings
    from sweeper.__main__ import ttl_interval_seconds

    assert ttl_interval_seconds(Settings(config_path=config)) == 2 * 60
    without = Settings(config_path=registry_with(tmp_path), sweep_interval_seconds=7)
    assert ttl_interval_seconds(without) == 7

    # the sweeper gives it to the threads stateless crons create (tests/integration/test_crons.py)
    from sweeper.__main__ import default_thread_ttl

    assert default_thread_ttl(without) is None
    config = registry_with(
        tmp_path, checkpointer={"ttl": {"strategy": "keep_latest", "default_ttl": 90}}
    )
    assert default_thread_ttl(Settings(config_path=config)) == {
        "ttl_minutes": 90,
        "ttl_strategy": "keep_latest",
    }
