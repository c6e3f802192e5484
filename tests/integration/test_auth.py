"""Auth (``app/auth.py``, ``app/api/access.py``) through the Flask test client on a real Postgres
and Redis: the official docs' owner pattern (``tests/auth/owner.py``) with two users, and the
API-key mode.

The cross-tenant test has alice create one of everything, then has bob try every route of the
API on it (the test fails if a route of the app is not tried), and checks that bob saw, counted
and changed nothing of alice's, and that alice's data is intact and still hers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import simple_websocket
from psycopg.rows import dict_row
from simple_websocket import ConnectionClosed
from werkzeug.serving import make_server

from app import create_app
from app.auth import PUBLIC_PATHS, AuthError, User
from app.config import Settings
from app.errors import ConfigurationError
from tests.auth_support import ALLOW_ALL_AUTH, OWNER_AUTH, registry_with_auth

ALICE = {"Authorization": "Bearer token-alice"}
BOB = {"Authorization": "Bearer token-bob"}
# what no route of the API needs to be tried for: the docs and the liveness/info routes
NOT_TRIED = {"/docs", "/docs/assets/<path:filename>", "/openapi.json", "/ok", "/info", "/metrics"}


@pytest.fixture
def owner_app(settings: Settings, tmp_path: Path) -> Iterator[Any]:
    config = registry_with_auth(tmp_path, OWNER_AUTH)
    app = create_app(dataclasses.replace(settings, config_path=config))
    yield app
    app.extensions["callboard"].close()


def api_routes(app: Any) -> set[tuple[str, str]]:
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS") and rule.rule not in NOT_TRIED
    }


def rows(database_url: str, query: str) -> list[dict]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


def test_no_credentials_or_a_bad_token_is_a_401_on_every_route(owner_app: Any) -> None:
    client = owner_app.test_client()
    some_id = str(uuid.uuid4())
    for rule, method in sorted(api_routes(owner_app)):
        path = rule.replace("<path:filename>", "x")
        for name in ("thread_id", "run_id", "cron_id", "assistant_id", "checkpoint_id"):
            path = path.replace(f"<{name}>", some_id)
        path = path.replace("<path:namespace>", "a")
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
            with client.open(path, method=method, headers=headers, json={}) as response:
                assert response.status_code == 401, (method, path, headers)
                assert response.get_json()["detail"] in ("Missing token", "Invalid token")
    for path in PUBLIC_PATHS:
        with client.get(path) as response:
            assert response.status_code in (200, 308), path


def test_each_user_sees_what_they_created_stamped_with_their_identity(owner_app: Any) -> None:
    client = owner_app.test_client()
    thread = client.post("/threads", json={"metadata": {"topic": "x"}}, headers=ALICE).get_json()
    assert thread["metadata"] == {"topic": "x", "owner": "alice"}
    # a client cannot claim another owner: the handler stamps its own identity over it
    forged = client.post("/threads", json={"metadata": {"owner": "alice"}}, headers=BOB)
    assert forged.get_json()["metadata"]["owner"] == "bob"
    patched = client.patch(
        f"/threads/{thread['thread_id']}", json={"metadata": {"owner": "bob"}}, headers=ALICE
    )
    assert patched.get_json()["metadata"]["owner"] == "alice"
    run = client.post(
        "/runs", json={"assistant_id": "noop", "input": {}, "metadata": {"k": 1}}, headers=ALICE
    ).get_json()
    assert run["metadata"]["owner"] == "alice" and run["metadata"]["k"] == 1
    # the temporary thread of a stateless run is alice's too, so she can read and join it
    assert client.get(f"/threads/{run['thread_id']}", headers=ALICE).status_code == 200
    assert client.get(f"/threads/{run['thread_id']}", headers=BOB).status_code == 404


def test_bob_can_neither_see_nor_touch_anything_of_alices(
    owner_app: Any, database_url: str
) -> None:
    client = owner_app.test_client()
    tried: set[tuple[str, str]] = set()
    adapter = owner_app.url_map.bind("localhost")

    def as_alice(method: str, path: str, **kwargs: Any) -> Any:
        with client.open(path, method=method, headers=ALICE, **kwargs) as response:
            assert response.status_code in (200, 201, 202, 204), (path, response.get_json())
            return response.get_json() if response.data else None

    def as_bob(method: str, path: str, expected: int = 404, **kwargs: Any) -> Any:
        rule, _ = adapter.match(path.split("?")[0], method=method, return_rule=True)
        tried.add((rule.rule, method))
        with client.open(path, method=method, headers=BOB, **kwargs) as response:
            if response.mimetype == "text/event-stream" or path.endswith("/wait"):
                assert response.status_code == expected  # bob's own run: not waited for
                return None
            assert response.status_code == expected, (method, path, response.get_data()[:300])
            return response.get_json() if response.data else None

    # --- alice creates one of everything -----------------------------------------------------
    tid = as_alice("POST", "/threads", json={"metadata": {"topic": "secret"}})["thread_id"]
    run = as_alice("POST", f"/threads/{tid}/runs", json={"assistant_id": "noop", "input": {}})
    rid = run["run_id"]
    assistant = as_alice("POST", "/assistants", json={"graph_id": "noop", "name": "mine"})
    aid = assistant["assistant_id"]
    cron = as_alice("POST", "/runs/crons", json={"assistant_id": "noop", "schedule": "0 0 1 1 *"})
    thread_cron = as_alice(
        "POST", f"/threads/{tid}/runs/crons", json={"assistant_id": "noop", "schedule": "0 0 * * *"}
    )
    as_alice("PUT", "/store/items", json={"namespace": ["notes"], "key": "k", "value": {"v": 1}})
    before = {
        table: rows(database_url, f"SELECT * FROM {table} ORDER BY 1")
        for table in ("threads", "runs", "assistants", "crons", "store")
    }

    # --- bob tries every route on it --------------------------------------------------------
    missing = str(uuid.uuid4())
    for path in (f"/threads/{tid}", f"/threads/{tid}/state", f"/threads/{tid}/history"):
        as_bob("GET", path)
    as_bob("GET", f"/threads/{tid}/state/{missing}")
    as_bob("PATCH", f"/threads/{tid}", json={"metadata": {"owner": "bob"}})
    as_bob("POST", f"/threads/{tid}/state", json={"values": {"x": 1}})
    as_bob("POST", f"/threads/{tid}/state/checkpoint", json={"checkpoint": {"checkpoint_id": rid}})
    as_bob("POST", f"/threads/{tid}/history", json={})
    as_bob("POST", f"/threads/{tid}/copy")
    as_bob("DELETE", f"/threads/{tid}")
    assert as_bob("POST", "/threads/prune", 200, json={"thread_ids": [tid]}) == {"pruned_count": 0}
    assert as_bob("POST", "/threads/search", 200, json={}) == []
    assert as_bob("POST", "/threads/search", 200, json={"ids": [tid]}) == []
    assert as_bob("POST", "/threads/count", 200, json={}) == 0
    as_bob("GET", f"/threads/{tid}/stream")
    # the thread-streaming protocol (its WebSocket twin: test_websocket_of_another_users_thread)
    command = {"id": 1, "method": "run.start", "params": {"assistant_id": "noop", "input": {}}}
    as_bob("POST", f"/threads/{tid}/commands", json=command)
    as_bob("POST", f"/threads/{tid}/commands", json={"id": 2, "method": "agent.getTree"})
    as_bob("POST", f"/threads/{tid}/stream/events", json={"channels": ["values"]})
    tried.add(("/threads/<thread_id>/stream/events", "GET"))  # the WebSocket: below
    # runs: as actions on alice's thread
    run_body = {"assistant_id": "noop", "input": {}}
    for path in ("runs", "runs/wait", "runs/stream"):
        as_bob("POST", f"/threads/{tid}/{path}", json=run_body)
    as_bob("POST", "/runs/batch", json=[run_body, {**run_body, "thread_id": tid}])
    as_bob("GET", f"/threads/{tid}/runs")
    for suffix in ("", "/join", "/stream"):
        as_bob("GET", f"/threads/{tid}/runs/{rid}{suffix}")
    as_bob("GET", f"/tasks/runs/{rid}")
    as_bob("DELETE", f"/tasks/runs/{rid}")
    as_bob("POST", "/tasks/canvas", 422, json={})  # bob's own canvas: validated like anyone's
    as_bob("POST", f"/threads/{tid}/runs/{rid}/cancel?action=rollback")
    as_bob("DELETE", f"/threads/{tid}/runs/{rid}")
    as_bob("POST", "/runs/cancel?action=rollback", json={"status": "all"})
    as_bob("POST", "/runs/cancel", json={"thread_id": tid, "run_ids": [rid]})
    # crons
    for cid in (cron["cron_id"], thread_cron["cron_id"]):
        as_bob("GET", f"/runs/crons/{cid}")
        as_bob("PATCH", f"/runs/crons/{cid}", json={"enabled": False})
        as_bob("DELETE", f"/runs/crons/{cid}")
    as_bob(
        "POST", f"/threads/{tid}/runs/crons", json={"assistant_id": "noop", "schedule": "* * * * *"}
    )
    assert as_bob("POST", "/runs/crons/search", 200, json={}) == []
    assert as_bob("POST", "/runs/crons/count", 200, json={}) == 0
    # assistants (alice's, and the graphs' default ones, which belong to no one)
    for target in (aid, "noop"):
        as_bob("GET", f"/assistants/{target}")
        as_bob("PATCH", f"/assistants/{target}", json={"name": "bob's now"})
        as_bob("DELETE", f"/assistants/{target}")
        as_bob("POST", f"/assistants/{target}/versions", json={})
        as_bob("POST", f"/assistants/{target}/latest", json={"version": 1})
        for suffix in ("graph", "schemas", "subgraphs", "subgraphs/x"):
            as_bob("GET", f"/assistants/{target}/{suffix}")
    assert as_bob("POST", "/assistants/search", 200, json={}) == []
    assert as_bob("POST", "/assistants/count", 200, json={}) == 0
    # the store: bob's namespaces are under his identity, whatever he asks for
    for namespace in ("notes", "alice.notes"):
        assert as_bob("GET", f"/store/items?namespace={namespace}&key=k", 200) is None
        as_bob("DELETE", "/store/items", 204, json={"namespace": namespace.split("."), "key": "k"})
    as_bob("PUT", "/store/items", 204, json={"namespace": ["notes"], "key": "k", "value": {"v": 2}})
    found = as_bob("POST", "/store/items/search", 200, json={"namespace_prefix": []})["items"]
    assert [(item["namespace"], item["value"]) for item in found] == [(["bob", "notes"], {"v": 2})]
    listed = as_bob("POST", "/store/namespaces", 200, json={})["namespaces"]
    assert listed == [["bob", "notes"]]
    # the operator's page shows everyone's runs: not for a user whose access is filtered
    as_bob("GET", "/dashboard", 403)
    as_bob("GET", "/dashboard/static/dashboard.css", 403)
    # what bob may do on his own: create threads, stateless runs, assistants, crons
    as_bob("POST", "/threads", 200, json={})
    for path in ("/runs", "/runs/wait", "/runs/stream"):
        as_bob("POST", path, 200, json=run_body)
    as_bob("POST", "/assistants", 200, json={"graph_id": "noop"})
    as_bob("POST", "/runs/crons", 200, json={"assistant_id": "noop", "schedule": "0 0 1 1 *"})

    # --- every route was tried, and alice's data is as she left it ---------------------------
    untried = api_routes(owner_app) - tried
    assert not untried, f"routes bob did not try: {sorted(untried)}"
    for table, alice_rows in before.items():
        now = rows(database_url, f"SELECT * FROM {table} ORDER BY 1")
        if table == "store":
            now = [r for r in now if r["prefix"] != "bob.notes"]
        else:  # bob's own thread, runs, assistant and cron
            now = [r for r in now if (r["metadata"] or {}).get("owner") != "bob"]
        assert now == alice_rows, table
    assert as_alice("GET", f"/threads/{tid}/runs/{rid}")["status"] == "pending"
    assert as_alice("POST", "/threads/count", json={}) == 1
    assert as_alice("POST", "/runs/crons/count", json={}) == 2
    assert as_alice("POST", "/assistants/count", json={}) == 1
    item = as_alice("GET", "/store/items?namespace=notes&key=k")
    assert item["namespace"] == ["alice", "notes"] and item["value"] == {"v": 1}


@pytest.fixture
def key_app(settings: Settings) -> Iterator[Any]:
    app = create_app(dataclasses.replace(settings, api_keys=("key-one", "key-two")))
    yield app
    app.extensions["callboard"].close()


def test_api_key_mode(key_app: Any) -> None:
    client = key_app.test_client()
    for headers in (
        {},
        {"x-api-key": "wrong"},
        {"x-api-key": "key-one "},
        {"x-api-key": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "key-one"},
    ):
        with client.post("/threads", json={}, headers=headers) as response:
            assert response.status_code == 401, headers
            assert "API key" in response.get_json()["detail"]
    for headers in ({"x-api-key": "key-one"}, {"x-api-key": "key-two"}):
        with client.post("/threads", json={}, headers=headers) as response:
            assert response.status_code == 200
    with client.get("/threads/x", headers={"Authorization": "Bearer key-two"}) as response:
        assert response.status_code == 422  # authenticated; then the bad id
    for path in PUBLIC_PATHS:
        with client.get(path) as response:
            assert response.status_code in (200, 308), path
    # every other route wants a key
    some_id = str(uuid.uuid4())
    for rule, method in sorted(api_routes(key_app)):
        path = rule.replace("<path:namespace>", "a")
        for name in ("thread_id", "run_id", "cron_id", "assistant_id", "checkpoint_id"):
            path = path.replace(f"<{name}>", some_id)
        with client.open(path, method=method, json={}) as response:
            assert response.status_code == 401, (method, path)


def test_api_keys_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"CALLBOARD_API_KEYS": " a1 ,b2,, "})
    assert settings.api_keys == ("a1", "b2")
    assert Settings.from_env({}).api_keys == ()


@pytest.fixture
def allow_all_app(settings: Settings, tmp_path: Path) -> Iterator[Any]:
    config = registry_with_auth(tmp_path, ALLOW_ALL_AUTH)
    app = create_app(dataclasses.replace(settings, config_path=config))
    yield app
    app.extensions["callboard"].close()


def test_handlers_are_chosen_per_resource_and_action(allow_all_app: Any) -> None:
    """The allow-all auth (what ``CALLBOARD_TEST_AUTH=allow_all`` runs the suites under) is
    really called, with the resource and action of each route: runs as actions on threads."""
    client = allow_all_app.test_client()
    auth = allow_all_app.extensions["callboard.auth"].auth
    calls = sys.modules[auth._global_handlers[0].__module__].calls  # the module as loaded
    calls.clear()
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    client.get(f"/threads/{tid}")
    client.post("/threads/search", json={})
    rid = client.post(f"/threads/{tid}/runs", json={"assistant_id": "noop"}).get_json()["run_id"]
    client.post(f"/threads/{tid}/runs/{rid}/cancel")
    client.delete(f"/threads/{tid}/runs/{rid}")
    client.put("/store/items", json={"namespace": ["a"], "key": "k", "value": {}})
    client.get("/assistants/noop")
    assert calls == [
        ("threads", "create"),
        ("threads", "read"),
        ("threads", "search"),
        ("threads", "create_run"),
        ("threads", "update"),
        ("threads", "delete"),
        ("store", "put"),
        ("assistants", "read"),
    ]


def test_the_most_specific_handler_is_chosen() -> None:
    from langgraph_sdk import Auth

    from app.auth import Authenticator

    auth = Auth()

    @auth.on
    async def everything(ctx: Any, value: Any) -> bool:
        return False

    @auth.on.threads
    async def threads(ctx: Any, value: Any) -> dict:
        return {"who": "threads"}

    @auth.on.threads.create
    async def threads_create(ctx: Any, value: Any) -> None:
        value["metadata"] = {"stamped": True}

    @auth.on(actions="search")
    async def any_search(ctx: Any, value: Any) -> dict:
        return {"members": {"$contains": ctx.user.identity}}

    authenticator = Authenticator(auth)
    user = User.of({"identity": "u1", "permissions": ["p"]})
    value: dict[str, Any] = {"metadata": {}}
    assert authenticator.authorize(user, "threads", "create", value) is None
    assert value == {"metadata": {"stamped": True}}
    assert authenticator.authorize(user, "threads", "read", {}) == {"who": "threads"}
    assert authenticator.authorize(user, "threads", "search", {}) == {"who": "threads"}
    members = {"members": {"$contains": "u1"}}
    assert authenticator.authorize(user, "crons", "search", {}) == members
    with pytest.raises(AuthError) as refused:
        authenticator.authorize(user, "crons", "read", {})
    assert refused.value.status == 403


def test_filters_are_containment_over_metadata(database_url: str) -> None:
    from app.store import threads as thread_store
    from app.store.db import Database
    from app.store.filters import containment

    db = Database(database_url)
    try:
        shared = uuid.uuid4()
        thread_store.insert(db, shared, {"owner": "u1", "members": ["u1", "u2"], "n": 3})
        thread_store.insert(db, uuid.uuid4(), {"owner": "u2", "members": ["u2"]})
        cases = [
            ({"owner": "u1"}, [shared]),
            ({"owner": {"$eq": "u1"}}, [shared]),
            ({"members": {"$contains": "u1"}}, [shared]),
            ({"members": {"$contains": ["u2", "u1"]}}, [shared]),
            ({"members": {"$contains": ["u1", "u3"]}}, []),
            ({"owner": "u1", "members": {"$contains": "u2"}}, [shared]),
            ({"owner": "u1", "n": 3}, [shared]),
            ({"owner": "u"}, []),
            ({"members": "u1"}, []),  # $eq is not membership
        ]
        for auth_filter, expected in cases:
            found = thread_store.search(db, auth_filter=auth_filter)
            assert [row["thread_id"] for row in found] == expected, auth_filter
            assert thread_store.count(db, auth_filter=auth_filter) == len(expected)
            assert (thread_store.get(db, shared, auth_filter) is not None) == bool(expected)
    finally:
        db.close()
    with pytest.raises(ConfigurationError):
        containment({"owner": {"$in": ["a"]}})
    with pytest.raises(ConfigurationError):
        containment({"owner": {"$eq": {"nested": 1}}})


def test_a_cron_runs_in_the_name_of_its_creator(owner_app: Any, database_url: str) -> None:
    """Fired by the sweeper (no request, no credentials), alice's stateless cron makes runs and
    threads that are alice's: she reads and joins them, bob does not see them."""
    from sweeper.crons import fire_due_crons

    client = owner_app.test_client()
    cron = client.post(
        "/runs/crons", json={"assistant_id": "noop", "schedule": "* * * * *"}, headers=ALICE
    ).get_json()
    assert cron["user_id"] == "alice" and cron["metadata"]["owner"] == "alice"
    svc = owner_app.extensions["callboard"]
    due = datetime.datetime.fromisoformat(cron["next_run_date"])
    assert fire_due_crons(svc.db, svc.redis, svc.actor, due) == 1
    [run] = rows(database_url, "SELECT * FROM runs")
    assert run["metadata"]["owner"] == "alice"
    path = f"/threads/{run['thread_id']}"
    assert client.get(path, headers=ALICE).get_json()["metadata"]["owner"] == "alice"
    assert client.get(f"{path}/runs/{run['run_id']}", headers=ALICE).status_code == 200
    assert client.get(path, headers=BOB).status_code == 404
    assert client.get(f"{path}/runs/{run['run_id']}", headers=BOB).status_code == 404


@pytest.fixture
def served_owner_app(owner_app: Any) -> Iterator[str]:
    """``owner_app`` served over HTTP on 127.0.0.1 (WebSocket routes need a real server)."""
    server = make_server("127.0.0.1", 0, owner_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_websocket_of_another_users_thread(owner_app: Any, served_owner_app: str) -> None:
    client = owner_app.test_client()
    tid = client.post("/threads", json={}, headers=ALICE).get_json()["thread_id"]
    url = f"ws://{served_owner_app}/threads/{tid}/stream/events"
    # the handshake without credentials is answered 401 before any upgrade
    with client.get(f"/threads/{tid}/stream/events") as response:
        assert response.status_code == 401
    bob = simple_websocket.Client(url, headers=BOB)
    try:
        with pytest.raises(ConnectionClosed) as closed:
            bob.receive(timeout=10)
        assert closed.value.reason == 1008  # policy violation: as if the thread did not exist
    finally:
        with contextlib.suppress(ConnectionClosed):  # closed by the server already
            bob.close()
    alice = simple_websocket.Client(url, headers=ALICE)
    try:
        alice.send(json.dumps({"id": 1, "method": "agent.getTree"}))
        answer = json.loads(alice.receive(timeout=10))
        assert answer["id"] == 1  # served (the thread has no run yet: an error answer)
    finally:
        alice.close()


def test_idempotency_keys_are_per_user(owner_app: Any) -> None:
    client = owner_app.test_client()
    body = {"assistant_id": "noop", "input": {"x": 1}}

    def create(headers: dict[str, str]) -> dict:
        with client.post("/runs", json=body, headers={**headers, "Idempotency-Key": "k1"}) as r:
            assert r.status_code == 200
            return r.get_json()

    alices = create(ALICE)
    assert create(ALICE)["run_id"] == alices["run_id"]  # her retry: her run
    bobs = create(BOB)
    assert bobs["run_id"] != alices["run_id"] and bobs["metadata"]["owner"] == "bob"
