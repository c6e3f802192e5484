"""Operations through the Flask app on a real Postgres and Redis: ``/metrics`` (queue figures,
run histograms, HTTP histogram, pools, lapsed heartbeats, webhook backlog), CORS for LangGraph
Studio, ``/info`` flags, the schemas of a ``typing.TypedDict`` state, join's keep-alives, and
``sslmode`` from ``DATABASE_URL``.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from app.errors import ConfigurationError
from app.notify import heartbeat_key, make_redis, publish_run_done
from app.runs import RunStatus
from app.store import runs as run_store
from app.store.db import Database
from tests.integration.run_helpers import new_run, sql
from tests.support import wait_for
from workers.actors.execute_run import execute_run
from workers.heartbeat import Heartbeats

STUDIO = "https://smith.langchain.com"


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` parsed: ``{(sample name, sorted labels): value}``."""
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def app_with(settings):
    """``app_with(**settings_changes)``: an app on the test's database with other settings."""
    apps = []

    def make(registry: dict | None = None, tmp: Path | None = None, **changes: Any) -> Any:
        if registry is not None:
            assert tmp is not None
            path = tmp / "langgraph.json"
            path.write_text(json.dumps(registry))
            changes["config_path"] = str(path)
        app = create_app(dataclasses.replace(settings, **changes))
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["callboard"].close()


# --- /metrics ---------------------------------------------------------------------------------


def test_metrics_queue_figures_http_histogram_and_pools(client, settings):
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    for _ in range(2):  # no worker: both stay pending
        resp = client.post(f"/threads/{tid}/runs", json={"assistant_id": "ledger", "input": {}})
        assert resp.status_code == 200
    samples = scrape(client)
    assert value(samples, "lg_api_num_pending_runs") == 2
    assert value(samples, "lg_api_num_running_runs") == 0
    assert value(samples, "lg_api_workers_max") == 0
    route = "/threads/<thread_id>/runs"
    count = value(
        samples,
        "callboard_http_request_duration_seconds_count",
        method="POST",
        route=route,
        status="200",
    )
    assert count is not None and count >= 2
    assert value(samples, "callboard_db_pool_connections", pool="db", state="size") >= 1
    assert value(samples, "callboard_heartbeats_lapsed") == 0
    assert value(samples, "callboard_webhook_backlog") == 0


def test_metrics_workers_from_their_presence(client, settings, runtime):
    db, executor = runtime.db, runtime.executor
    beats = make_redis(settings.redis_url)
    window = settings.heartbeat_seconds
    workers = [Heartbeats(beats, db, executor, window, f"w{i}", n_jobs=4).start() for i in (1, 2)]

    def both_counted() -> dict | None:
        samples = scrape(client)
        return samples if value(samples, "lg_api_workers_max") == 8 else None

    try:
        samples = wait_for(both_counted, timeout=10, what="two workers of 4 jobs")
        assert value(samples, "lg_api_workers_active") == 0
        assert value(samples, "lg_api_workers_available") == 8
    finally:
        for w in workers:
            w.stop()  # a stopping worker removes its presence at once
        beats.close()
    assert value(scrape(client), "lg_api_workers_max") == 0


def test_metrics_run_histograms_recorded_by_the_worker(client, runtime):
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    for echo in (1, 2):
        run = client.post(
            f"/threads/{tid}/runs", json={"assistant_id": "ledger", "input": {"echo": echo}}
        ).get_json()
        execute_run(run["run_id"], 1)
    failing = client.post(
        f"/threads/{tid}/runs", json={"assistant_id": "ledger", "input": {"fail": "boom"}}
    ).get_json()
    execute_run(failing["run_id"], 1)
    status = client.get(f"/threads/{tid}/runs/{failing['run_id']}").get_json()["status"]
    samples = scrape(client)
    for name in ("callboard_run_duration_seconds", "callboard_run_queue_wait_seconds"):
        ok = {"graph_id": "ledger", "status": "success"}
        assert value(samples, f"{name}_count", **ok) == 2
        assert value(samples, f"{name}_bucket", le="+Inf", **ok) == 2
        assert value(samples, f"{name}_sum", **ok) >= 0
        assert value(samples, f"{name}_count", graph_id="ledger", status=status) >= 1


def test_metrics_count_a_run_the_sweeper_ends(client, settings, database_url):
    # a lapsed run with no attempt left ends as error by the sweeper, not a worker: it is in
    # the histograms too
    from app.queue import declare_execute_run, make_broker
    from sweeper.jobs import REDIS_EPOCH_KEY, requeue_stale_runs

    db = Database(database_url)
    rclient = make_redis(settings.redis_url)
    broker = make_broker(settings)
    try:
        rclient.set(REDIS_EPOCH_KEY, 0)  # Redis kept its keys: the sweeper may act
        run = new_run(db)
        assert run_store.claim(db, run["run_id"], run["version"], "w-gone") is not None
        sql(db, "UPDATE runs SET claimed_at = now() - interval '60 seconds'")
        actor = declare_execute_run(broker, queue_name=settings.queue_name)
        now = sql(db, "SELECT now() AS now")[0]["now"]
        requeue_stale_runs(db, rclient, actor, now, window=5.0, max_attempts=1)
        assert run_store.get(db, run["run_id"])["status"] == "error"
        samples = scrape(client)
        count = "callboard_run_duration_seconds_count"
        assert value(samples, count, graph_id="ledger", status="error") == 1
        assert value(samples, f"{count[:-6]}_sum", graph_id="ledger", status="error") >= 60
    finally:
        broker.close()
        rclient.close()
        db.close()


def test_metrics_lapsed_heartbeats_and_webhook_backlog(client, settings, database_url):
    db = Database(database_url)
    rclient = make_redis(settings.redis_url)
    try:
        beating, lapsed = new_run(db), new_run(db)
        claims = [run_store.claim(db, r["run_id"], r["version"], "w") for r in (beating, lapsed)]
        assert all(claims)
        # claimed two windows ago; only one of them still has its heartbeat key
        sql(db, "UPDATE runs SET claimed_at = now() - interval '2 seconds'")
        rclient.set(heartbeat_key(claims[0].run_id, claims[0].claim_token), "w-test", px=60_000)
        sql(
            db,
            "INSERT INTO webhook_deliveries (run_id, url, run) VALUES (%(r)s, 'http://x', '{}')",
            {"r": uuid.uuid4()},
        )
        samples = scrape(client)
        assert value(samples, "lg_api_num_running_runs") == 2
        assert value(samples, "callboard_heartbeats_lapsed") == 1
        assert value(samples, "callboard_webhook_backlog") == 1
        assert value(samples, "callboard_webhook_oldest_pending_seconds") >= 0
    finally:
        db.close()
        rclient.close()


def test_metrics_answer_without_redis(app_with):
    # Redis unreachable: the figures read from it are left out, the scrape still answers
    client = app_with(redis_url="redis://127.0.0.1:1/0")
    resp = client.get("/metrics")
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert "lg_api_num_pending_runs" in text
    assert "lg_api_workers_max" not in text


# --- CORS -------------------------------------------------------------------------------------


def preflight(client: Any, origin: str = STUDIO, path: str = "/assistants/search") -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )


def test_cors_default_allows_any_origin_as_the_official_server(client):
    resp = preflight(client)
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] in (STUDIO, "*")
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    allowed = resp.headers["Access-Control-Allow-Headers"].lower()
    assert "content-type" in allowed and "x-api-key" in allowed
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    real = client.get("/info", headers={"Origin": STUDIO})
    assert real.headers["Access-Control-Allow-Origin"] in (STUDIO, "*")
    assert "location" in real.headers["Access-Control-Expose-Headers"].lower()


def test_cors_allow_origins_from_the_environment(app_with):
    client = app_with(cors_allow_origins=("https://ui.example.com",))
    assert "Access-Control-Allow-Origin" not in preflight(client).headers
    ok = preflight(client, origin="https://ui.example.com")
    assert ok.headers["Access-Control-Allow-Origin"] == "https://ui.example.com"


def test_cors_from_langgraph_json_http_cors(app_with, tmp_path):
    registry = {
        "graphs": {"noop": str(Path(__file__).parents[2] / "examples" / "noop.py") + ":noop"},
        "http": {
            "cors": {
                "allow_origins": [STUDIO],
                "allow_methods": ["GET", "POST"],
                "allow_headers": ["x-api-key"],
                "max_age": 120,
            }
        },
    }
    client = app_with(registry=registry, tmp=tmp_path, cors_allow_origins=("https://other",))
    resp = preflight(client)
    assert resp.headers["Access-Control-Allow-Origin"] == STUDIO
    assert resp.headers["Access-Control-Max-Age"] == "120"
    assert "x-api-key" in resp.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in resp.headers  # Starlette's default: false
    assert "Access-Control-Allow-Origin" not in preflight(client, origin="https://evil").headers
    # CORS_CONFIG in the environment wins over the file, as in the official server
    env_client = app_with(
        registry=registry, tmp=tmp_path, cors_config={"allow_origins": ["https://env"]}
    )
    assert "Access-Control-Allow-Origin" not in preflight(env_client).headers


def test_cors_unknown_key_stops_start_up(app_with):
    with pytest.raises(ConfigurationError, match="allow_everything"):
        app_with(cors_config={"allow_everything": True})


# --- /info and schemas ------------------------------------------------------------------------


def test_info_flags_say_what_the_server_does(client):
    body = client.get("/info").get_json()
    assert body["flags"] == {"assistants": True, "crons": True, "langsmith": False}
    assert body["host"]["kind"] == "self-hosted"
    # crons really are served
    cron = client.post("/runs/crons", json={"assistant_id": "noop", "schedule": "* * * * *"})
    assert cron.status_code == 200


def test_typing_typeddict_state_has_schemas_on_python_311(client):
    body = client.get("/assistants/accumulate/schemas").get_json()
    for key in ("input_schema", "output_schema", "state_schema"):
        assert body[key] is not None, key
    inp = body["input_schema"]
    assert inp["title"] == "State" and inp["type"] == "object"
    assert inp["properties"]["numbers"] == {
        "items": {"type": "number"},
        "title": "Numbers",
        "type": "array",
    }
    assert inp["properties"]["mean"]["anyOf"] == [{"type": "number"}, {"type": "null"}]
    assert "required" not in inp  # total=False


# --- join keep-alives -------------------------------------------------------------------------


def test_join_sends_newlines_while_the_run_goes_on(client):
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    run = client.post(f"/threads/{tid}/runs", json={"assistant_id": "ledger"}).get_json()
    resp = client.get(f"/threads/{tid}/runs/{run['run_id']}/join", buffered=False)
    assert resp.status_code == 200
    chunks: Iterator[bytes] = iter(resp.response)
    first = next(chunks)  # no worker: the run stays pending, so this is a keep-alive
    assert first.strip() == b""
    ended = threading.Event()

    def cancel() -> None:
        client.post(f"/threads/{tid}/runs/{run['run_id']}/cancel")
        ended.set()

    threading.Thread(target=cancel).start()
    body = first + b"".join(chunks)
    assert ended.wait(10)
    json.loads(body)  # the SDK's parser skips the leading newlines
    resp.close()
    assert client.get(f"/threads/{tid}/runs/{run['run_id']}").get_json()["status"] == "interrupted"


def test_cancel_wait_sends_newlines_until_the_run_ends(client, runtime):
    # a running run (claimed, its worker not yet stopping it): cancel?wait=true must keep the
    # connection alive with newlines until the run ends, then answer JSON the SDK parses
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    run = client.post(f"/threads/{tid}/runs", json={"assistant_id": "ledger"}).get_json()
    claim = run_store.claim(runtime.db, uuid.UUID(run["run_id"]), 1, "test-worker")
    assert claim is not None
    resp = client.post(f"/threads/{tid}/runs/{run['run_id']}/cancel?wait=true", buffered=False)
    assert resp.status_code == 200
    chunks: Iterator[bytes] = iter(resp.response)
    first = next(chunks)  # the run is still running: this is a keep-alive
    assert first.strip() == b""
    # the worker's part: it records the interrupt and announces the end
    run_store.finish(runtime.db, claim, RunStatus.INTERRUPTED)
    publish_run_done(runtime.redis, uuid.UUID(run["run_id"]))
    body = first + b"".join(chunks)
    resp.close()
    assert json.loads(body) == {}  # the SDK's parser skips the leading newlines


def test_join_of_a_finished_run_answers_at_once(client, runtime):
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    run = client.post(
        f"/threads/{tid}/runs", json={"assistant_id": "ledger", "input": {"echo": 7}}
    ).get_json()
    execute_run(run["run_id"], 1)
    body = client.get(f"/threads/{tid}/runs/{run['run_id']}/join").get_data()
    assert not body.startswith(b"\n")
    assert json.loads(body)["echo"] == 7
    assert client.get(f"/threads/{tid}/runs/{uuid.uuid4()}/join").status_code == 404


# --- sslmode and rediss ------------------------------------------------------------------------


def test_sslmode_from_database_url_reaches_libpq(database_url):
    # this server has no TLS: "require" must fail on TLS, "disable" must work, for the pool and
    # for the migrations (yoyo), which both take DATABASE_URL as it is
    from migrations import apply_all

    with pytest.raises(psycopg.OperationalError, match="SSL"):
        psycopg.connect(database_url + "?sslmode=require").close()
    with pytest.raises(psycopg.OperationalError, match="SSL"):
        apply_all(database_url + "?sslmode=require")
    assert apply_all(database_url + "?sslmode=disable") == 0
    db = Database(database_url + "?sslmode=disable")
    try:
        assert sql(db, "SELECT 1 AS one") == [{"one": 1}]
    finally:
        db.close()
