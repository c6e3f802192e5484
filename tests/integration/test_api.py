"""The HTTP API through the Flask test client, on a real Postgres and Redis: the happy path of
every route (the JSON shapes of ``langgraph_sdk.schema``) and bad input, which must always be a
4xx with a JSON ``detail`` (never a 500) and must write nothing.

The routes that wait for a run (``…/runs/wait``, ``join``, ``cancel?wait=true``) need a worker
and are covered elsewhere.
"""

from __future__ import annotations

import datetime
import json
import typing
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk import schema as sdk_schema
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from app.store import runs as run_store
from tests.conftest import TEST_REGISTRY

DEFAULT_ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
GRAPH_IDS = list(json.loads(Path(TEST_REGISTRY).read_text())["graphs"])
MAX_BODY = 10 * 1024 * 1024  # the app's MAX_CONTENT_LENGTH
RUN_STATUSES = {"pending", "running", "success", "error", "timeout", "interrupted"}
THREAD_STATUSES = {"idle", "busy", "interrupted", "error"}


# --- helpers ----------------------------------------------------------------------------------


def required_keys(typed_dict: type) -> set[str]:
    """The keys a ``langgraph_sdk.schema`` TypedDict requires (``NotRequired`` ones left out)."""
    hints = typing.get_type_hints(typed_dict, include_extras=True)
    return {k for k, v in hints.items() if typing.get_origin(v) is not typing.NotRequired}


def is_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = datetime.datetime.fromisoformat(value)
    return parsed.tzinfo is not None


def assert_assistant(body: Any, *, versioned: bool = False) -> None:
    shape = sdk_schema.AssistantVersion if versioned else sdk_schema.Assistant
    assert required_keys(shape) <= set(body), set(required_keys(shape)) - set(body)
    assert uuid.UUID(body["assistant_id"])
    assert isinstance(body["graph_id"], str) and body["graph_id"] in GRAPH_IDS
    assert isinstance(body["config"], dict)
    assert isinstance(body["context"], dict)
    assert isinstance(body["metadata"], dict)
    assert isinstance(body["version"], int) and body["version"] >= 1
    assert isinstance(body["name"], str)
    assert body["description"] is None or isinstance(body["description"], str)
    assert is_timestamp(body["created_at"])
    if not versioned:
        assert is_timestamp(body["updated_at"])


def assert_thread(body: Any) -> None:
    missing = required_keys(sdk_schema.Thread) - set(body)
    assert not missing, missing
    assert uuid.UUID(body["thread_id"])
    assert is_timestamp(body["created_at"]) and is_timestamp(body["updated_at"])
    assert isinstance(body["metadata"], dict)
    assert body["status"] in THREAD_STATUSES
    assert isinstance(body["interrupts"], dict)


def assert_run(body: Any) -> None:
    assert required_keys(sdk_schema.Run) <= set(body), required_keys(sdk_schema.Run) - set(body)
    assert uuid.UUID(body["run_id"]) and uuid.UUID(body["thread_id"])
    assert uuid.UUID(body["assistant_id"])
    assert is_timestamp(body["created_at"]) and is_timestamp(body["updated_at"])
    assert body["status"] in RUN_STATUSES
    assert isinstance(body["metadata"], dict)
    assert body["multitask_strategy"] in ("reject", "interrupt", "rollback", "enqueue")


def assert_checkpoint(body: Any, thread_id: str) -> None:
    # the official server leaves checkpoint_map out unless the config has one
    assert {"thread_id", "checkpoint_ns", "checkpoint_id"} <= set(body)
    assert body["thread_id"] == thread_id
    assert isinstance(body["checkpoint_ns"], str)
    assert body["checkpoint_id"] is None or isinstance(body["checkpoint_id"], str)


def assert_thread_state(body: Any, thread_id: str, *, empty: bool = False) -> None:
    """``empty``: the thread has no checkpoint, so ``checkpoint`` and ``metadata`` are None, as
    the official server answers (``tests/sdk_sweep/fixtures/threads_state.json``
    [``state_empty``])."""
    assert required_keys(sdk_schema.ThreadState) <= set(body)
    assert isinstance(body["values"], (dict, list))
    assert isinstance(body["next"], list)
    assert isinstance(body["tasks"], list)
    assert isinstance(body["interrupts"], list)
    assert body["created_at"] is None or is_timestamp(body["created_at"])
    if empty:
        assert body["checkpoint"] is None and body["metadata"] is None, body
    else:
        assert isinstance(body["metadata"], dict)
        assert_checkpoint(body["checkpoint"], thread_id)
    assert body["parent_checkpoint"] is None or isinstance(body["parent_checkpoint"], dict)


def assert_error(resp: Any, status: int) -> str:
    """``resp`` is ``status`` with a JSON body whose ``detail`` is a non-empty string."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    assert resp.mimetype == "application/json", resp.mimetype
    body = resp.get_json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    return body["detail"]


def snapshot(database_url: str) -> dict[str, tuple]:
    """Row counts (and a fingerprint of their versions and update times) of the tables a
    request may write."""
    queries = {
        "assistants": "SELECT count(*), coalesce(sum(version), 0), max(updated_at) FROM assistants",
        "assistant_versions": "SELECT count(*) FROM assistant_versions",
        "threads": "SELECT count(*), max(updated_at) FROM threads",
        "runs": "SELECT count(*), coalesce(sum(version), 0), max(updated_at), "
        "count(*) FILTER (WHERE status = 'pending') FROM runs",
    }
    with psycopg.connect(database_url) as conn:
        return {table: tuple(conn.execute(sql).fetchone()) for table, sql in queries.items()}


def row_count(database_url: str, table: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# --- fixtures ---------------------------------------------------------------------------------


@dataclass
class World:
    """Resources that exist before a bad request: an assistant, a thread with a pending run."""

    assistant_id: str
    thread_id: str
    run_id: str

    def fill(self, text: str) -> str:
        return (
            text.replace("{asst}", self.assistant_id)
            .replace("{thread}", self.thread_id)
            .replace("{run}", self.run_id)
            .replace("{missing}", "2f0b5d7e-0c7e-4c4e-9a59-6a1b8d3c0e11")
        )


@pytest.fixture
def world(client: Any) -> World:
    assistant = client.post("/assistants", json={"graph_id": "noop", "name": "mine"})
    assert assistant.status_code == 200, assistant.get_json()
    thread = client.post("/threads", json={"metadata": {"owner": "world"}})
    assert thread.status_code == 200, thread.get_json()
    thread_id = thread.get_json()["thread_id"]
    run = client.post(f"/threads/{thread_id}/runs", json={"assistant_id": "noop"})
    assert run.status_code == 200, run.get_json()
    return World(assistant.get_json()["assistant_id"], thread_id, run.get_json()["run_id"])


# --- system -----------------------------------------------------------------------------------


def test_ok(client):
    resp = client.get("/ok")
    assert resp.status_code == 200
    assert resp.get_json() == {"ok": True}
    assert client.get("/ok?check_db=1").get_json() == {"ok": True}


def test_info(client):
    resp = client.get("/info")
    assert resp.status_code == 200
    body = resp.get_json()
    assert isinstance(body["version"], str) and body["version"]
    assert body["graphs"] == GRAPH_IDS
    assert isinstance(body["flags"], dict)


# --- assistants -------------------------------------------------------------------------------


@pytest.mark.parametrize("graph_id", GRAPH_IDS)
def test_default_assistant_of_every_graph(client, graph_id):
    expected_id = str(uuid.uuid5(DEFAULT_ASSISTANT_NAMESPACE, graph_id))
    by_uuid = client.get(f"/assistants/{expected_id}")
    assert by_uuid.status_code == 200
    assert_assistant(by_uuid.get_json())
    assert by_uuid.get_json()["assistant_id"] == expected_id
    assert by_uuid.get_json()["graph_id"] == graph_id
    by_graph = client.get(f"/assistants/{graph_id}")
    assert by_graph.status_code == 200
    assert by_graph.get_json() == by_uuid.get_json()
    found = client.post("/assistants/search", json={"graph_id": graph_id}).get_json()
    assert [a["assistant_id"] for a in found] == [expected_id]


def test_assistant_create_get_patch_versions_latest_delete(client, database_url):
    created = client.post(
        "/assistants",
        json={
            "graph_id": "accumulate",
            "name": "summer",
            "description": "adds numbers",
            "config": {"tags": ["t"], "recursion_limit": 5, "configurable": {"k": "v"}},
            "context": {"c": 1},
            "metadata": {"team": "a"},
        },
    )
    assert created.status_code == 200
    assistant = created.get_json()
    assert_assistant(assistant)
    assert assistant["graph_id"] == "accumulate"
    assert assistant["name"] == "summer"
    assert assistant["description"] == "adds numbers"
    assert assistant["config"] == {"tags": ["t"], "recursion_limit": 5, "configurable": {"k": "v"}}
    assert assistant["context"] == {"c": 1}
    assert assistant["metadata"] == {"team": "a"}
    assert assistant["version"] == 1
    aid = assistant["assistant_id"]

    got = client.get(f"/assistants/{aid}")
    assert got.status_code == 200
    assert got.get_json() == assistant

    patched = client.patch(f"/assistants/{aid}", json={"name": "summer2", "metadata": {"x": 1}})
    assert patched.status_code == 200
    assert_assistant(patched.get_json())
    assert patched.get_json()["version"] == 2
    assert patched.get_json()["name"] == "summer2"
    assert patched.get_json()["metadata"] == {"team": "a", "x": 1}  # merged
    assert patched.get_json()["config"] == assistant["config"]  # kept

    versions = client.post(f"/assistants/{aid}/versions", json={})
    assert versions.status_code == 200
    assert [v["version"] for v in versions.get_json()] == [2, 1]
    for version in versions.get_json():
        assert_assistant(version, versioned=True)
    limited = client.post(f"/assistants/{aid}/versions", json={"limit": 1, "offset": 1})
    assert [v["version"] for v in limited.get_json()] == [1]
    by_meta = client.post(f"/assistants/{aid}/versions", json={"metadata": {"x": 1}})
    assert [v["version"] for v in by_meta.get_json()] == [2]

    latest = client.post(f"/assistants/{aid}/latest", json={"version": 1})
    assert latest.status_code == 200
    assert_assistant(latest.get_json())
    assert latest.get_json()["version"] == 1
    assert latest.get_json()["name"] == "summer"
    assert client.get(f"/assistants/{aid}").get_json()["version"] == 1

    deleted = client.delete(f"/assistants/{aid}")
    assert deleted.status_code == 204
    assert_error(client.get(f"/assistants/{aid}"), 404)
    with psycopg.connect(database_url) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM assistant_versions WHERE assistant_id = %s", (aid,)
            ).fetchone()[0]
            == 0
        )


def test_assistant_defaults_and_if_exists(client):
    aid = str(uuid.uuid4())
    created = client.post("/assistants", json={"graph_id": "noop", "assistant_id": aid})
    assert created.status_code == 200
    body = created.get_json()
    assert_assistant(body)
    assert body["assistant_id"] == aid
    assert body["config"] == {} and body["context"] == {} and body["metadata"] == {}
    assert body["description"] is None

    again = client.post("/assistants", json={"graph_id": "noop", "assistant_id": aid})
    assert "already exists" in assert_error(again, 409)
    same = client.post(
        "/assistants", json={"graph_id": "noop", "assistant_id": aid, "if_exists": "do_nothing"}
    )
    assert same.status_code == 200
    assert same.get_json() == body


def test_assistant_by_graph_id_routes(client):
    """The graph id addresses the default assistant on every /assistants/{id} route."""
    patched = client.patch("/assistants/noop", json={"metadata": {"via": "graph id"}})
    assert patched.status_code == 200
    default_id = str(uuid.uuid5(DEFAULT_ASSISTANT_NAMESPACE, "noop"))
    assert patched.get_json()["assistant_id"] == default_id
    assert patched.get_json()["version"] == 2
    assert len(client.post("/assistants/noop/versions", json={}).get_json()) == 2
    assert client.post("/assistants/noop/latest", json={"version": 1}).get_json()["version"] == 1
    assert client.get("/assistants/noop/graph").status_code == 200
    assert client.delete("/assistants/noop").status_code == 204
    assert_error(client.get("/assistants/noop"), 404)


def test_assistant_search_and_count(client):
    for name, team in (("alpha", "a"), ("beta", "a"), ("gamma", "b")):
        resp = client.post(
            "/assistants", json={"graph_id": "word_stats", "name": name, "metadata": {"team": team}}
        )
        assert resp.status_code == 200

    everything = client.post("/assistants/search", json={"limit": 100})
    assert everything.status_code == 200
    assert len(everything.get_json()) == len(GRAPH_IDS) + 3
    for assistant in everything.get_json():
        assert_assistant(assistant)

    team_a = client.post(
        "/assistants/search",
        json={"metadata": {"team": "a"}, "sort_by": "name", "sort_order": "asc"},
    ).get_json()
    assert [a["name"] for a in team_a] == ["alpha", "beta"]
    desc = client.post(
        "/assistants/search",
        json={
            "graph_id": "word_stats",
            "sort_by": "name",
            "sort_order": "desc",
            "limit": 2,
            "offset": 1,
        },
    ).get_json()
    # word_stats has its default assistant (named "word_stats") too
    assert [a["name"] for a in desc] == ["gamma", "beta"]
    by_name = client.post("/assistants/search", json={"name": "AMM"}).get_json()
    assert [a["name"] for a in by_name] == ["gamma"]
    selected = client.post(
        "/assistants/search", json={"graph_id": "word_stats", "select": ["assistant_id", "name"]}
    ).get_json()
    assert len(selected) == 4
    assert all(set(a) == {"assistant_id", "name"} for a in selected)

    def count(body: dict) -> Any:
        resp = client.post("/assistants/count", json=body)
        assert resp.status_code == 200
        return resp.get_json()

    assert count({}) == len(GRAPH_IDS) + 3
    assert count({"metadata": {"team": "a"}}) == 2
    assert count({"graph_id": "word_stats"}) == 4
    assert count({"name": "beta"}) == 1
    assert count({"metadata": {"team": "nobody"}}) == 0
    # an empty body is an empty filter
    assert client.post("/assistants/count").get_json() == len(GRAPH_IDS) + 3


def test_assistant_graph(client):
    resp = client.get("/assistants/accumulate/graph")
    assert resp.status_code == 200
    drawn = resp.get_json()
    ids = {node["id"] for node in drawn["nodes"]}
    assert {"__start__", "__end__"} <= ids
    assert all({"source", "target"} <= set(edge) for edge in drawn["edges"])
    for xray in ("true", "false", "1", "0", "2"):
        assert client.get(f"/assistants/accumulate/graph?xray={xray}").status_code == 200


# --- threads ----------------------------------------------------------------------------------


def test_thread_create_get_patch_delete(client):
    created = client.post("/threads", json={"metadata": {"owner": "me"}})
    assert created.status_code == 200
    thread = created.get_json()
    assert_thread(thread)
    assert thread["metadata"] == {"owner": "me"}
    assert thread["status"] == "idle"
    tid = thread["thread_id"]

    got = client.get(f"/threads/{tid}")
    assert got.status_code == 200
    assert got.get_json() == thread

    patched = client.patch(f"/threads/{tid}", json={"metadata": {"tag": 1}})
    assert patched.status_code == 200
    assert_thread(patched.get_json())
    assert patched.get_json()["metadata"] == {"owner": "me", "tag": 1}

    assert client.delete(f"/threads/{tid}").status_code == 204
    assert_error(client.get(f"/threads/{tid}"), 404)
    assert_error(client.delete(f"/threads/{tid}"), 404)


def test_thread_create_with_id_and_if_exists(client):
    tid = str(uuid.uuid4())
    created = client.post("/threads", json={"thread_id": tid})
    assert created.status_code == 200
    assert created.get_json()["thread_id"] == tid
    assert created.get_json()["metadata"] == {}
    assert "already exists" in assert_error(client.post("/threads", json={"thread_id": tid}), 409)
    same = client.post("/threads", json={"thread_id": tid, "if_exists": "do_nothing"})
    assert same.status_code == 200
    assert same.get_json() == created.get_json()
    # no body at all is an empty body
    bare = client.post("/threads")
    assert bare.status_code == 200
    assert_thread(bare.get_json())


def test_thread_body_is_json_whatever_its_content_type(client):
    """A body sent without a JSON Content-Type (``curl -d``) is read, never silently ignored."""
    resp = client.post(
        "/threads",
        data=json.dumps({"metadata": {"k": 1}}),
        content_type="application/x-www-form-urlencoded",
    )
    assert resp.status_code == 200
    assert resp.get_json()["metadata"] == {"k": 1}


def test_thread_search_and_count(client):
    ids = []
    for i, owner in enumerate(("ann", "ann", "bob")):
        resp = client.post("/threads", json={"metadata": {"owner": owner, "i": i}})
        ids.append(resp.get_json()["thread_id"])

    everything = client.post("/threads/search", json={})
    assert everything.status_code == 200
    assert [t["thread_id"] for t in everything.get_json()] == ids[::-1]  # newest first
    for thread in everything.get_json():
        assert_thread(thread)

    asc = client.post("/threads/search", json={"sort_by": "created_at", "sort_order": "asc"})
    assert [t["thread_id"] for t in asc.get_json()] == ids
    page = client.post("/threads/search", json={"sort_order": "asc", "limit": 1, "offset": 1})
    assert [t["thread_id"] for t in page.get_json()] == ids[1:2]
    anns = client.post("/threads/search", json={"metadata": {"owner": "ann"}}).get_json()
    assert sorted(t["thread_id"] for t in anns) == sorted(ids[:2])
    by_ids = client.post("/threads/search", json={"ids": [ids[0], ids[2]]}).get_json()
    assert sorted(t["thread_id"] for t in by_ids) == sorted([ids[0], ids[2]])
    idle = client.post("/threads/search", json={"status": "idle"}).get_json()
    assert len(idle) == 3
    assert client.post("/threads/search", json={"status": "error"}).get_json() == []
    selected = client.post("/threads/search", json={"select": ["thread_id", "metadata"]}).get_json()
    assert all(set(t) == {"thread_id", "metadata"} for t in selected) and len(selected) == 3

    def count(body: dict) -> Any:
        resp = client.post("/threads/count", json=body)
        assert resp.status_code == 200
        return resp.get_json()

    assert count({}) == 3
    assert count({"metadata": {"owner": "ann"}}) == 2
    assert count({"status": "idle"}) == 3
    assert count({"status": "busy"}) == 0


def test_thread_state_of_a_new_thread(client):
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    resp = client.get(f"/threads/{tid}/state")
    assert resp.status_code == 200
    state = resp.get_json()
    assert_thread_state(state, tid, empty=True)
    assert state["values"] == {} and state["next"] == [] and state["tasks"] == []


def test_thread_state_of_a_thread_with_a_graph(client):
    """A thread that a run named a graph for (metadata graph_id) but that has no checkpoint yet."""
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    run = client.post(f"/threads/{tid}/runs", json={"assistant_id": "accumulate"})
    assert run.status_code == 200
    assert client.get(f"/threads/{tid}").get_json()["metadata"]["graph_id"] == "accumulate"
    resp = client.get(f"/threads/{tid}/state")
    assert resp.status_code == 200
    assert_thread_state(resp.get_json(), tid)


# --- runs -------------------------------------------------------------------------------------


def test_run_create_on_thread_get_list(client, database_url):
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    resp = client.post(
        f"/threads/{tid}/runs",
        json={
            "assistant_id": "accumulate",
            "input": {"numbers": [1, 2]},
            "metadata": {"purpose": "test"},
            "config": {"tags": ["x"]},
            "stream_mode": ["values", "updates"],
            "durability": "sync",
        },
    )
    assert resp.status_code == 200
    run = resp.get_json()
    assert_run(run)
    assert run["thread_id"] == tid
    assert run["status"] == "pending"
    assert run["multitask_strategy"] == "enqueue"
    assert run["assistant_id"] == str(uuid.uuid5(DEFAULT_ASSISTANT_NAMESPACE, "accumulate"))
    assert run["metadata"]["purpose"] == "test"
    assert resp.headers["Content-Location"] == f"/threads/{tid}/runs/{run['run_id']}"

    got = client.get(f"/threads/{tid}/runs/{run['run_id']}")
    assert got.status_code == 200
    assert got.get_json() == run

    second = client.post(f"/threads/{tid}/runs", json={"assistant_id": "accumulate"}).get_json()
    third = client.post(f"/threads/{tid}/runs", json={"assistant_id": "noop"}).get_json()
    listed = client.get(f"/threads/{tid}/runs")
    assert listed.status_code == 200
    assert [r["run_id"] for r in listed.get_json()] == [
        third["run_id"],
        second["run_id"],
        run["run_id"],
    ]
    for item in listed.get_json():
        assert_run(item)
    page = client.get(f"/threads/{tid}/runs?limit=1&offset=1").get_json()
    assert [r["run_id"] for r in page] == [second["run_id"]]
    assert len(client.get(f"/threads/{tid}/runs?status=pending").get_json()) == 3
    assert client.get(f"/threads/{tid}/runs?status=success").get_json() == []
    selected = client.get(f"/threads/{tid}/runs?select=run_id&select=status").get_json()
    assert selected == [{"run_id": r["run_id"], "status": "pending"} for r in (third, second, run)]
    assert row_count(database_url, "runs") == 3


def test_run_with_an_assistant_uuid(client, world):
    resp = client.post(
        f"/threads/{world.thread_id}/runs", json={"assistant_id": world.assistant_id}
    )
    assert resp.status_code == 200
    assert resp.get_json()["assistant_id"] == world.assistant_id


def test_stateless_run(client, database_url):
    resp = client.post("/runs", json={"assistant_id": "noop", "input": {"x": 1}})
    assert resp.status_code == 200
    run = resp.get_json()
    assert_run(run)
    assert run["status"] == "pending"
    assert resp.headers["Content-Location"] == f"/threads/{run['thread_id']}/runs/{run['run_id']}"
    got = client.get(f"/threads/{run['thread_id']}/runs/{run['run_id']}")
    assert got.status_code == 200
    assert got.get_json() == run
    assert row_count(database_url, "runs") == 1
    kept = client.post("/runs", json={"assistant_id": "noop", "on_completion": "keep"})
    assert kept.status_code == 200
    assert kept.get_json()["thread_id"] != run["thread_id"]


def test_if_not_exists_create_creates_the_thread(client, database_url):
    tid = str(uuid.uuid4())
    resp = client.post(
        f"/threads/{tid}/runs", json={"assistant_id": "noop", "if_not_exists": "create"}
    )
    assert resp.status_code == 200
    assert_run(resp.get_json())
    assert resp.get_json()["thread_id"] == tid
    thread = client.get(f"/threads/{tid}")
    assert thread.status_code == 200
    assert thread.get_json()["metadata"]["graph_id"] == "noop"
    # on an existing thread it is a no-op
    again = client.post(
        f"/threads/{tid}/runs", json={"assistant_id": "noop", "if_not_exists": "create"}
    )
    assert again.status_code == 200
    assert row_count(database_url, "threads") == 1
    assert row_count(database_url, "runs") == 2


def test_if_not_exists_reject_is_404(client, database_url):
    tid = str(uuid.uuid4())
    before = snapshot(database_url)
    resp = client.post(
        f"/threads/{tid}/runs", json={"assistant_id": "noop", "if_not_exists": "reject"}
    )
    assert tid in assert_error(resp, 404)
    assert snapshot(database_url) == before


def test_multitask_reject_on_a_busy_thread(client, database_url, world):
    before = snapshot(database_url)
    resp = client.post(
        f"/threads/{world.thread_id}/runs",
        json={"assistant_id": "noop", "multitask_strategy": "reject"},
    )
    assert "busy" in assert_error(resp, 409)
    assert snapshot(database_url) == before
    assert len(client.get(f"/threads/{world.thread_id}/runs").get_json()) == 1


def test_multitask_reject_on_an_idle_thread(client):
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    resp = client.post(
        f"/threads/{tid}/runs", json={"assistant_id": "noop", "multitask_strategy": "reject"}
    )
    assert resp.status_code == 200
    assert resp.get_json()["multitask_strategy"] == "reject"


def test_multitask_reject_with_if_not_exists_create(client, database_url):
    tid = str(uuid.uuid4())
    body = {"assistant_id": "noop", "multitask_strategy": "reject", "if_not_exists": "create"}
    assert client.post(f"/threads/{tid}/runs", json=body).status_code == 200
    before = snapshot(database_url)
    assert_error(client.post(f"/threads/{tid}/runs", json=body), 409)
    assert snapshot(database_url) == before


def test_cancel_pending_run(client, world):
    url = f"/threads/{world.thread_id}/runs/{world.run_id}"
    resp = client.post(f"{url}/cancel")
    assert resp.status_code == 202
    run = client.get(url).get_json()
    assert_run(run)
    assert run["status"] == "interrupted"
    # as the SDK sends it; cancelling a finished run changes nothing
    assert client.post(f"{url}/cancel?wait=0&action=interrupt").status_code == 202
    assert client.get(url).get_json()["status"] == "interrupted"


def test_cancel_pending_run_with_rollback_deletes_it(client, database_url, world):
    url = f"/threads/{world.thread_id}/runs/{world.run_id}"
    assert client.post(f"{url}/cancel?action=rollback").status_code == 202
    assert_error(client.get(url), 404)
    assert row_count(database_url, "runs") == 0


def test_delete_run(client, database_url, world):
    url = f"/threads/{world.thread_id}/runs/{world.run_id}"
    assert client.delete(url).status_code == 204
    assert_error(client.get(url), 404)
    assert_error(client.delete(url), 404)
    assert row_count(database_url, "runs") == 0
    assert client.get(f"/threads/{world.thread_id}").status_code == 200


def test_running_run_cannot_be_deleted_and_cancel_is_recorded(client, app, database_url, world):
    db = app.extensions["callboard"].db
    row = run_store.get(db, uuid.UUID(world.run_id))
    claim = run_store.claim(db, row["run_id"], row["version"], "test-worker")
    assert claim is not None
    url = f"/threads/{world.thread_id}/runs/{world.run_id}"
    assert client.get(url).get_json()["status"] == "running"

    before = snapshot(database_url)
    assert "running" in assert_error(client.delete(url), 409)
    assert snapshot(database_url) == before

    assert client.post(f"{url}/cancel").status_code == 202
    with psycopg.connect(database_url) as conn:
        status, action = conn.execute(
            "SELECT status, cancel_action FROM runs WHERE run_id = %s", (world.run_id,)
        ).fetchone()
    assert (status, action) == ("running", "interrupt")  # the worker stops it


def test_deleting_a_thread_deletes_its_runs(client, database_url, world):
    assert client.delete(f"/threads/{world.thread_id}").status_code == 204
    assert row_count(database_url, "runs") == 0
    assert_error(client.get(f"/threads/{world.thread_id}/runs/{world.run_id}"), 404)


# --- the SDK against the app ------------------------------------------------------------------


def test_sdk_round_trip(app):
    """``langgraph_sdk``'s sync client, over a WSGI transport, on every route of this file."""
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://callboard")
    with SyncLangGraphClient(http) as sdk:
        default = sdk.assistants.get("noop")
        assert default["assistant_id"] == str(uuid.uuid5(DEFAULT_ASSISTANT_NAMESPACE, "noop"))
        mine = sdk.assistants.create("accumulate", metadata={"k": 1}, name="mine")
        assert sdk.assistants.update(mine["assistant_id"], name="mine2")["version"] == 2
        assert len(sdk.assistants.get_versions(mine["assistant_id"])) == 2
        assert sdk.assistants.set_latest(mine["assistant_id"], 1)["name"] == "mine"
        assert sdk.assistants.get_graph(mine["assistant_id"], xray=1)["nodes"]
        found = sdk.assistants.search(metadata={"k": 1}, select=["assistant_id"])
        assert found == [{"assistant_id": mine["assistant_id"]}]
        assert sdk.assistants.count(graph_id="accumulate") == 2

        thread = sdk.threads.create(metadata={"m": 1})
        tid = thread["thread_id"]
        assert sdk.threads.get(tid)["metadata"] == {"m": 1}
        assert sdk.threads.update(tid, metadata={"n": 2})["metadata"] == {"m": 1, "n": 2}
        assert [t["thread_id"] for t in sdk.threads.search(metadata={"n": 2})] == [tid]
        assert sdk.threads.count(metadata={"n": 2}) == 1
        assert sdk.threads.get_state(tid)["checkpoint"] is None  # none yet, as the official server

        run = sdk.runs.create(tid, mine["assistant_id"], input={"numbers": [1]})
        assert run["status"] == "pending"
        assert sdk.runs.get(tid, run["run_id"])["run_id"] == run["run_id"]
        assert [r["run_id"] for r in sdk.runs.list(tid, status="pending")] == [run["run_id"]]
        assert sdk.runs.list(tid, select=["run_id"]) == [{"run_id": run["run_id"]}]
        with pytest.raises(ConflictError):
            sdk.runs.create(tid, "noop", multitask_strategy="reject")
        sdk.runs.cancel(tid, run["run_id"])
        assert sdk.runs.get(tid, run["run_id"])["status"] == "interrupted"
        sdk.runs.delete(tid, run["run_id"])
        stateless = sdk.runs.create(None, "noop", input={})
        assert stateless["status"] == "pending"

        with pytest.raises(NotFoundError):
            sdk.threads.get(str(uuid.uuid4()))
        with pytest.raises(UnprocessableEntityError) as refused:  # webhooks are supported;
            sdk.runs.create(tid, "noop", webhook="http://example.invalid/hook")  # not this host
        assert "cannot resolve" in refused.value.response.json()["detail"]

        sdk.threads.delete(tid)
        sdk.assistants.delete(mine["assistant_id"])


# --- bad input --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A request body sent as these bytes (not JSON-encoded by the test)."""

    data: bytes
    content_type: str = "application/json"


BIG = object()  # a body one byte over MAX_CONTENT_LENGTH
DEEP = Raw(b'{"metadata": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}")
NO_BODY = object()


def case(
    method: str, path: str, body: Any, status: int, detail: str | None = None, *, id: str
) -> Any:
    return pytest.param(method, path, body, status, detail, id=id)


BAD_INPUT = [
    # --- malformed JSON
    case("POST", "/assistants", Raw(b'{"graph_id": '), 422, "Invalid JSON", id="json-assistants"),
    case(
        "PATCH", "/assistants/{asst}", Raw(b"{bad"), 422, "Invalid JSON", id="json-assistant-patch"
    ),
    case("POST", "/assistants/search", Raw(b"{"), 422, "Invalid JSON", id="json-assistant-search"),
    case("POST", "/assistants/count", Raw(b"nope"), 422, "Invalid JSON", id="json-assistant-count"),
    case(
        "POST", "/assistants/{asst}/versions", Raw(b"{,}"), 422, "Invalid JSON", id="json-versions"
    ),
    case(
        "POST",
        "/assistants/{asst}/latest",
        Raw(b"{'version': 1}"),
        422,
        "Invalid JSON",
        id="json-latest",
    ),
    case("POST", "/threads", Raw(b"{bad"), 422, "Invalid JSON", id="json-threads"),
    case(
        "PATCH",
        "/threads/{thread}",
        Raw(b'{"metadata": {}'),
        422,
        "Invalid JSON",
        id="json-thread-patch",
    ),
    case("POST", "/threads/search", Raw(b"[1,"), 422, "Invalid JSON", id="json-thread-search"),
    case("POST", "/threads/count", Raw(b"}"), 422, "Invalid JSON", id="json-thread-count"),
    case(
        "POST",
        "/threads/{thread}/runs",
        Raw(b'{"assistant_id": "noop",}'),
        422,
        "Invalid JSON",
        id="json-runs",
    ),
    case(
        "POST",
        "/runs",
        Raw(b'{"assistant_id": noop}'),
        422,
        "Invalid JSON",
        id="json-stateless-run",
    ),
    case("POST", "/threads", Raw(b"\xff\xfe{}"), 422, "Invalid JSON", id="json-not-utf8"),
    case("POST", "/threads", Raw(b"   "), 422, "Invalid JSON", id="json-blank"),
    case("POST", "/threads", Raw(b'{"metadata": {}}{}'), 422, "Invalid JSON", id="json-trailing"),
    case("POST", "/threads", DEEP, 422, "Invalid JSON", id="json-too-deep"),
    case(
        "POST",
        "/threads",
        Raw(b"metadata=1", "application/x-www-form-urlencoded"),
        422,
        "Invalid JSON",
        id="json-form-encoded",
    ),
    # --- JSON that is not an object
    case("POST", "/assistants", [], 422, None, id="array-assistants"),
    case("PATCH", "/assistants/{asst}", "x", 422, None, id="string-assistant-patch"),
    case("POST", "/assistants/search", True, 422, None, id="bool-assistant-search"),
    case("POST", "/assistants/count", 1, 422, None, id="number-assistant-count"),
    case("POST", "/assistants/{asst}/latest", [1], 422, None, id="array-latest"),
    case("POST", "/threads", [1, 2], 422, None, id="array-threads"),
    case("POST", "/threads", Raw(b"null"), 422, None, id="null-threads"),
    case("PATCH", "/threads/{thread}", 42, 422, None, id="number-thread-patch"),
    case("POST", "/threads/search", [], 422, None, id="array-thread-search"),
    case("POST", "/threads/count", "count", 422, None, id="string-thread-count"),
    case("POST", "/threads/{thread}/runs", ["noop"], 422, None, id="array-runs"),
    case("POST", "/runs", "noop", 422, None, id="string-stateless-run"),
    # --- bad UUID (or unknown graph id) in the path
    case("GET", "/assistants/not-a-graph", NO_BODY, 422, "not-a-graph", id="path-assistant-get"),
    case("PATCH", "/assistants/not-a-graph", {}, 422, "not-a-graph", id="path-assistant-patch"),
    case(
        "DELETE", "/assistants/not-a-graph", NO_BODY, 422, "not-a-graph", id="path-assistant-delete"
    ),
    case("POST", "/assistants/not-a-graph/versions", {}, 422, "not-a-graph", id="path-versions"),
    case(
        "POST",
        "/assistants/not-a-graph/latest",
        {"version": 1},
        422,
        "not-a-graph",
        id="path-latest",
    ),
    case("GET", "/assistants/not-a-graph/graph", NO_BODY, 422, "not-a-graph", id="path-graph"),
    case("GET", "/threads/not-a-uuid", NO_BODY, 422, "UUID", id="path-thread-get"),
    case("PATCH", "/threads/not-a-uuid", {"metadata": {}}, 422, "UUID", id="path-thread-patch"),
    case("DELETE", "/threads/not-a-uuid", NO_BODY, 422, "UUID", id="path-thread-delete"),
    case("GET", "/threads/not-a-uuid/state", NO_BODY, 422, "UUID", id="path-thread-state"),
    case(
        "POST",
        "/threads/not-a-uuid/runs",
        {"assistant_id": "noop"},
        422,
        "UUID",
        id="path-run-create",
    ),
    case(
        "POST",
        "/threads/not-a-uuid/runs",
        {"assistant_id": "noop", "if_not_exists": "create"},
        422,
        "UUID",
        id="path-run-create-if-not-exists",
    ),
    case("GET", "/threads/not-a-uuid/runs", NO_BODY, 422, "UUID", id="path-run-list"),
    case("GET", "/threads/{thread}/runs/not-a-uuid", NO_BODY, 422, "UUID", id="path-run-get"),
    case("GET", "/threads/not-a-uuid/runs/{run}", NO_BODY, 422, "UUID", id="path-run-get-thread"),
    case(
        "POST",
        "/threads/{thread}/runs/not-a-uuid/cancel",
        NO_BODY,
        422,
        "UUID",
        id="path-run-cancel",
    ),
    case("DELETE", "/threads/{thread}/runs/not-a-uuid", NO_BODY, 422, "UUID", id="path-run-delete"),
    case(
        "GET",
        "/threads/00000000-0000-0000-0000-00000000000g",
        NO_BODY,
        422,
        "UUID",
        id="path-thread-almost-uuid",
    ),
    # --- unknown assistant / graph / thread / run
    case("GET", "/assistants/{missing}", NO_BODY, 404, "{missing}", id="404-assistant-get"),
    case(
        "PATCH", "/assistants/{missing}", {"name": "x"}, 404, "{missing}", id="404-assistant-patch"
    ),
    case("DELETE", "/assistants/{missing}", NO_BODY, 404, "{missing}", id="404-assistant-delete"),
    case("POST", "/assistants/{missing}/versions", {}, 404, "{missing}", id="404-versions"),
    case("POST", "/assistants/{missing}/latest", {"version": 1}, 404, "{missing}", id="404-latest"),
    case("GET", "/assistants/{missing}/graph", NO_BODY, 404, "{missing}", id="404-graph"),
    case("POST", "/assistants/{asst}/latest", {"version": 99}, 404, "99", id="404-version"),
    case(
        "POST",
        "/assistants",
        {"graph_id": "no_such_graph"},
        404,
        "no_such_graph",
        id="404-graph-create",
    ),
    case(
        "PATCH",
        "/assistants/{asst}",
        {"graph_id": "no_such_graph"},
        404,
        "no_such_graph",
        id="404-graph-patch",
    ),
    case("GET", "/threads/{missing}", NO_BODY, 404, "{missing}", id="404-thread-get"),
    case(
        "PATCH",
        "/threads/{missing}",
        {"metadata": {"a": 1}},
        404,
        "{missing}",
        id="404-thread-patch",
    ),
    case("DELETE", "/threads/{missing}", NO_BODY, 404, "{missing}", id="404-thread-delete"),
    case("GET", "/threads/{missing}/state", NO_BODY, 404, "{missing}", id="404-thread-state"),
    case("GET", "/threads/{missing}/runs", NO_BODY, 404, "{missing}", id="404-run-list"),
    case(
        "POST",
        "/threads/{missing}/runs",
        {"assistant_id": "noop"},
        404,
        "{missing}",
        id="404-run-create-thread",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "{missing}"},
        404,
        "{missing}",
        id="404-run-create-assistant",
    ),
    case(
        "POST",
        "/threads/{missing}/runs",
        {"assistant_id": "{missing}", "if_not_exists": "create"},
        404,
        "{missing}",
        id="404-run-create-assistant-if-not-exists",
    ),
    case(
        "POST",
        "/runs",
        {"assistant_id": "{missing}"},
        404,
        "{missing}",
        id="404-stateless-run-assistant",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "no_such_graph"},
        422,
        "no_such_graph",
        id="run-assistant-not-uuid-nor-graph",
    ),
    case(
        "POST",
        "/runs",
        {"assistant_id": "no_such_graph"},
        422,
        "no_such_graph",
        id="stateless-run-assistant-not-uuid-nor-graph",
    ),
    case("GET", "/threads/{thread}/runs/{missing}", NO_BODY, 404, "not found", id="404-run-get"),
    case(
        "GET",
        "/threads/{missing}/runs/{run}",
        NO_BODY,
        404,
        "not found",
        id="404-run-get-other-thread",
    ),
    case(
        "POST",
        "/threads/{thread}/runs/{missing}/cancel",
        NO_BODY,
        404,
        "not found",
        id="404-run-cancel",
    ),
    case(
        "DELETE", "/threads/{thread}/runs/{missing}", NO_BODY, 404, "not found", id="404-run-delete"
    ),
    case("GET", "/no/such/route", NO_BODY, 404, None, id="404-route"),
    case("PUT", "/threads", {}, 405, None, id="405-method"),
    # --- conflicts
    case(
        "POST", "/threads", {"thread_id": "{thread}"}, 409, "already exists", id="409-thread-exists"
    ),
    case(
        "POST",
        "/assistants",
        {"graph_id": "noop", "assistant_id": "{asst}"},
        409,
        "already exists",
        id="409-assistant-exists",
    ),
    # --- wrong types
    case("POST", "/assistants", {"graph_id": 5}, 422, "graph_id", id="type-graph-id"),
    case(
        "POST",
        "/assistants",
        {"graph_id": "noop", "metadata": 5},
        422,
        "metadata",
        id="type-assistant-metadata",
    ),
    case(
        "POST",
        "/assistants",
        {"graph_id": "noop", "config": "x"},
        422,
        "config",
        id="type-assistant-config",
    ),
    case(
        "POST",
        "/assistants",
        {"graph_id": "noop", "context": []},
        422,
        "context",
        id="type-assistant-context",
    ),
    case(
        "POST",
        "/assistants",
        {"graph_id": "noop", "name": 5},
        422,
        "name",
        id="type-assistant-name",
    ),
    case(
        "POST",
        "/assistants",
        {"graph_id": "noop", "assistant_id": "nope"},
        422,
        "assistant_id",
        id="type-assistant-id",
    ),
    case(
        "POST",
        "/assistants",
        {"graph_id": "noop", "config": {"recursion_limit": "5"}},
        422,
        "recursion_limit",
        id="type-recursion-limit",
    ),
    case(
        "POST",
        "/assistants",
        {"graph_id": "noop", "config": {"tags": "a"}},
        422,
        "tags",
        id="type-tags",
    ),
    case("POST", "/assistants", {}, 422, "graph_id", id="missing-graph-id"),
    case(
        "PATCH",
        "/assistants/{asst}",
        {"metadata": []},
        422,
        "metadata",
        id="type-assistant-patch-metadata",
    ),
    case("PATCH", "/assistants/{asst}", {"name": ""}, 422, "name", id="empty-assistant-name"),
    case("POST", "/assistants/search", {"limit": "5"}, 422, "limit", id="type-search-limit"),
    case("POST", "/assistants/search", {"limit": 1.5}, 422, "limit", id="float-search-limit"),
    case("POST", "/assistants/search", {"limit": True}, 422, "limit", id="bool-search-limit"),
    case("POST", "/assistants/search", {"limit": 0}, 422, "limit", id="zero-search-limit"),
    case("POST", "/assistants/search", {"limit": 1001}, 422, "limit", id="huge-search-limit"),
    case("POST", "/assistants/search", {"offset": -1}, 422, "offset", id="negative-offset"),
    case("POST", "/assistants/search", {"offset": 10**30}, 422, None, id="overflowing-offset"),
    case("POST", "/assistants/search", {"metadata": 1}, 422, "metadata", id="type-search-metadata"),
    case(
        "POST",
        "/assistants/search",
        {"graph_id": ["noop"]},
        422,
        "graph_id",
        id="type-search-graph-id",
    ),
    case("POST", "/assistants/count", {"metadata": "x"}, 422, "metadata", id="type-count-metadata"),
    case(
        "POST",
        "/assistants/{asst}/versions",
        {"limit": "x"},
        422,
        "limit",
        id="type-versions-limit",
    ),
    case(
        "POST",
        "/assistants/{asst}/latest",
        {"version": "1"},
        422,
        "version",
        id="type-latest-version",
    ),
    case(
        "POST",
        "/assistants/{asst}/latest",
        {"version": 0},
        422,
        "version",
        id="zero-latest-version",
    ),
    case("POST", "/assistants/{asst}/latest", {}, 422, "version", id="missing-latest-version"),
    case("POST", "/threads", {"metadata": 5}, 422, "metadata", id="type-thread-metadata"),
    case("POST", "/threads", {"thread_id": 5}, 422, "thread_id", id="type-thread-id"),
    case("POST", "/threads", {"thread_id": "nope"}, 422, "thread_id", id="bad-thread-id"),
    case(
        "PATCH",
        "/threads/{thread}",
        {"metadata": 5},
        422,
        "metadata",
        id="type-thread-patch-metadata",
    ),
    case(
        "PATCH",
        "/threads/{thread}",
        {"metadata": None},
        422,
        "metadata",
        id="null-thread-patch-metadata",
    ),
    case("PATCH", "/threads/{thread}", {}, 422, "metadata", id="missing-thread-patch-metadata"),
    case("POST", "/threads/search", {"limit": "10"}, 422, "limit", id="type-thread-search-limit"),
    case("POST", "/threads/search", {"ids": "x"}, 422, "ids", id="type-thread-search-ids"),
    case("POST", "/threads/search", {"ids": ["nope"]}, 422, "ids", id="bad-thread-search-ids"),
    case(
        "POST", "/threads/count", {"metadata": []}, 422, "metadata", id="type-thread-count-metadata"
    ),
    case("POST", "/threads/{thread}/runs", {}, 422, "assistant_id", id="missing-assistant-id"),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": 5},
        422,
        "assistant_id",
        id="type-assistant-id-run",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "metadata": 5},
        422,
        "metadata",
        id="type-run-metadata",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "config": []},
        422,
        "config",
        id="type-run-config",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "config": {"configurable": 5}},
        422,
        "configurable",
        id="type-run-configurable",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "stream_mode": 5},
        422,
        "stream_mode",
        id="type-stream-mode",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "interrupt_before": 5},
        422,
        "interrupt_before",
        id="type-interrupt-before",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "command": 5},
        422,
        "command",
        id="type-command",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "stream_subgraphs": "yes"},
        422,
        "stream_subgraphs",
        id="type-stream-subgraphs",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "stream_subgraphs": 1},
        422,
        "stream_subgraphs",
        id="number-stream-subgraphs",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "checkpoint_during": "no"},
        422,
        "checkpoint_during",
        id="type-checkpoint-during",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "checkpoint_id": 5},
        422,
        "checkpoint_id",
        id="type-checkpoint-id",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "input": {}, "command": {"resume": 1}},
        422,
        "command",
        id="input-and-command",
    ),
    case(
        "POST",
        "/runs",
        {"assistant_id": "noop", "context": 5},
        422,
        "context",
        id="type-stateless-context",
    ),
    case("GET", "/threads/{thread}/runs?limit=abc", NO_BODY, 422, "limit", id="type-list-limit"),
    case("GET", "/threads/{thread}/runs?limit=0", NO_BODY, 422, "limit", id="zero-list-limit"),
    case(
        "GET", "/threads/{thread}/runs?offset=-1", NO_BODY, 422, "offset", id="negative-list-offset"
    ),
    case(
        "GET",
        "/threads/{thread}/runs?offset=100000000000000000000",
        NO_BODY,
        422,
        None,
        id="overflowing-list-offset",
    ),
    case(
        "POST",
        "/threads/{thread}/runs/{run}/cancel?wait=maybe",
        NO_BODY,
        422,
        "wait",
        id="type-cancel-wait",
    ),
    # --- unknown fields
    case(
        "POST",
        "/assistants",
        {"graph_id": "noop", "bogus": 1},
        422,
        "bogus",
        id="unknown-assistant-create",
    ),
    case(
        "POST",
        "/assistants",
        {"graph_id": "noop", "config": {"bogus": 1}},
        422,
        "bogus",
        id="unknown-assistant-config",
    ),
    case("PATCH", "/assistants/{asst}", {"bogus": 1}, 422, "bogus", id="unknown-assistant-patch"),
    case("POST", "/assistants/search", {"bogus": 1}, 422, "bogus", id="unknown-assistant-search"),
    case("POST", "/assistants/count", {"bogus": 1}, 422, "bogus", id="unknown-assistant-count"),
    case("POST", "/assistants/{asst}/versions", {"bogus": 1}, 422, "bogus", id="unknown-versions"),
    case(
        "POST",
        "/assistants/{asst}/latest",
        {"version": 1, "bogus": 1},
        422,
        "bogus",
        id="unknown-latest",
    ),
    case("POST", "/threads", {"bogus": 1}, 422, "bogus", id="unknown-thread-create"),
    case(
        "PATCH",
        "/threads/{thread}",
        {"metadata": {}, "bogus": 1},
        422,
        "bogus",
        id="unknown-thread-patch",
    ),
    case("POST", "/threads/search", {"bogus": 1}, 422, "bogus", id="unknown-thread-search"),
    case("POST", "/threads/count", {"bogus": 1}, 422, "bogus", id="unknown-thread-count"),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "bogus": 1},
        422,
        "bogus",
        id="unknown-run-create",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "config": {"bogus": 1}},
        422,
        "bogus",
        id="unknown-run-config",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "command": {"bogus": 1}},
        422,
        "bogus",
        id="unknown-run-command",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "checkpoint": {"bogus": 1}},
        422,
        "bogus",
        id="unknown-run-checkpoint",
    ),
    case(
        "POST",
        "/runs",
        {"assistant_id": "noop", "bogus": 1},
        422,
        "bogus",
        id="unknown-stateless-run",
    ),
    case("GET", "/threads/{thread}/runs?bogus=1", NO_BODY, 422, "bogus", id="unknown-list-query"),
    case(
        "POST",
        "/threads/{thread}/runs/{run}/cancel?bogus=1",
        NO_BODY,
        422,
        "bogus",
        id="unknown-cancel-query",
    ),
    case(
        "POST",
        "/assistants/search",
        {"select": ["bogus"]},
        422,
        "bogus",
        id="unknown-assistant-select",
    ),
    case(
        "POST",
        "/threads/search",
        {"select": ["thread_id", "bogus"]},
        422,
        "bogus",
        id="unknown-thread-select",
    ),
    case(
        "POST",
        "/threads/search",
        {"ids": ["{missing}"], "select": ["bogus"]},
        422,
        "bogus",
        id="unknown-thread-select-no-match",
    ),
    case(
        "GET", "/threads/{thread}/runs?select=bogus", NO_BODY, 422, "bogus", id="unknown-run-select"
    ),
    # --- fields the official API has that this server does not do, and values it refuses
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "webhook": "http://example.invalid"},
        422,
        "cannot resolve",
        id="unresolvable-webhook-host",
    ),
    case(
        "POST",
        "/runs",
        {"assistant_id": "noop", "webhook": "http://example.invalid"},
        422,
        "cannot resolve",
        id="unresolvable-stateless-webhook-host",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "after_seconds": "5"},
        422,
        "after_seconds",
        id="type-after-seconds",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "feedback_keys": ["a"]},
        422,
        "feedback_keys",
        id="unsupported-feedback-keys",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "langsmith_tracer": {"project_name": "p"}},
        422,
        "langsmith_tracer",
        id="unsupported-langsmith-tracer",
    ),
    case("POST", "/threads", {"ttl": {"ttl": "5"}}, 422, "ttl", id="invalid-thread-ttl"),
    case(
        "POST",
        "/threads",
        {"supersteps": []},
        422,
        "supersteps",
        id="unsupported-thread-supersteps",
    ),
    case(
        "PATCH",
        "/threads/{thread}",
        {"metadata": {}, "ttl": 5},
        422,
        "ttl",
        id="type-thread-patch-ttl",
    ),
    case(
        "POST",
        "/threads/search",
        {"values": [1]},
        422,
        "values",
        id="invalid-thread-search-values",
    ),
    case(
        "POST",
        "/threads/search",
        {"extract": {"a": "nowhere.a"}},
        422,
        "extract",
        id="invalid-thread-search-extract",
    ),
    case(
        "POST",
        "/threads/count",
        {"values": "a"},
        422,
        "values",
        id="invalid-thread-count-values",
    ),
    # --- invalid enum values
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "multitask_strategy": "x"},
        422,
        "multitask_strategy",
        id="enum-multitask-strategy",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "multitask_strategy": "Rollback"},
        422,
        "multitask_strategy",
        id="enum-multitask-strategy-rollback",
    ),
    case(
        "POST",
        "/runs",
        {"assistant_id": "noop", "multitask_strategy": "cancel"},
        422,
        "multitask_strategy",
        id="enum-stateless-multitask-strategy",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "if_not_exists": "maybe"},
        422,
        "if_not_exists",
        id="enum-if-not-exists",
    ),
    case(
        "POST",
        "/runs",
        {"assistant_id": "noop", "on_completion": "later"},
        422,
        "on_completion",
        id="enum-on-completion",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "on_disconnect": "x"},
        422,
        "on_disconnect",
        id="enum-on-disconnect",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "durability": "forever"},
        422,
        "durability",
        id="enum-durability",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "stream_mode": "bogus"},
        422,
        "stream_mode",
        id="enum-stream-mode",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "stream_mode": ["values", "bogus"]},
        422,
        "stream_mode",
        id="enum-stream-mode-list",
    ),
    case(
        "POST",
        "/assistants",
        {"graph_id": "noop", "if_exists": "replace"},
        422,
        "if_exists",
        id="enum-assistant-if-exists",
    ),
    case(
        "POST",
        "/assistants/search",
        {"sort_order": "sideways"},
        422,
        "sort_order",
        id="enum-assistant-sort-order",
    ),
    case(
        "POST",
        "/assistants/search",
        {"sort_by": "version; DROP TABLE runs"},
        422,
        "sort_by",
        id="enum-assistant-sort-by",
    ),
    case(
        "POST", "/threads", {"if_exists": "replace"}, 422, "if_exists", id="enum-thread-if-exists"
    ),
    case(
        "POST",
        "/threads/search",
        {"sort_order": "up"},
        422,
        "sort_order",
        id="enum-thread-sort-order",
    ),
    case(
        "POST", "/threads/search", {"sort_by": "metadata"}, 422, "sort_by", id="enum-thread-sort-by"
    ),
    case(
        "POST",
        "/threads/search",
        {"status": "sleeping"},
        422,
        "status",
        id="enum-thread-search-status",
    ),
    case(
        "POST",
        "/threads/count",
        {"status": "sleeping"},
        422,
        "status",
        id="enum-thread-count-status",
    ),
    case(
        "GET",
        "/threads/{thread}/runs?status=done",
        NO_BODY,
        422,
        "status",
        id="enum-run-list-status",
    ),
    case(
        "POST",
        "/threads/{thread}/runs/{run}/cancel?action=explode",
        NO_BODY,
        422,
        "action",
        id="enum-cancel-action",
    ),
    case("GET", "/assistants/{asst}/graph?xray=maybe", NO_BODY, 422, "xray", id="enum-xray"),
    case(
        "GET", "/assistants/{asst}/graph?xray=" + "9" * 5000, NO_BODY, 422, "xray", id="huge-xray"
    ),
    # --- combinations that make no sense
    case(
        "POST",
        "/threads/{thread}/runs",
        {"assistant_id": "noop", "on_completion": "delete"},
        422,
        "on_completion",
        id="on-completion-on-thread",
    ),
    case(
        "POST",
        "/runs",
        {"assistant_id": "noop", "if_not_exists": "create"},
        422,
        "if_not_exists",
        id="if-not-exists-stateless",
    ),
    case(
        "POST",
        "/runs",
        {"assistant_id": "noop", "checkpoint_id": "abc"},
        422,
        "checkpoint_id",
        id="checkpoint-stateless",
    ),
    # --- values Postgres cannot store
    case("POST", "/threads", {"metadata": {"a": "nul\u0000"}}, 422, None, id="nul-in-metadata"),
    case("POST", "/threads", {"metadata": {"nul\u0000": 1}}, 422, None, id="nul-in-metadata-key"),
    case(
        "POST",
        "/assistants",
        {"graph_id": "noop", "name": "nul\u0000"},
        422,
        None,
        id="nul-in-assistant-name",
    ),
    case("POST", "/assistants/search", {"name": "nul\u0000"}, 422, None, id="nul-in-search-name"),
    case(
        "POST", "/threads", Raw(b'{"metadata": {"a": "\\ud800"}}'), 422, None, id="lone-surrogate"
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        Raw(b'{"assistant_id": "noop", "input": NaN}'),
        422,
        None,
        id="nan-input",
    ),
    case(
        "POST",
        "/threads/{thread}/runs",
        Raw(b'{"assistant_id": "noop", "input": 1e400}'),
        422,
        None,
        id="infinite-input",
    ),
    case(
        "POST",
        "/runs",
        {"assistant_id": "noop", "input": {"a": "nul\u0000"}},
        422,
        None,
        id="nul-in-stateless-input",
    ),
    case(
        "POST",
        "/threads/{missing}/runs",
        {"assistant_id": "noop", "if_not_exists": "create", "input": "nul\u0000"},
        422,
        None,
        id="nul-in-input-if-not-exists",
    ),
    case(
        "PATCH",
        "/assistants/{asst}",
        {"metadata": {"a": "nul\u0000"}},
        422,
        None,
        id="nul-in-assistant-patch",
    ),
    # --- too large
    case("POST", "/threads", BIG, 413, None, id="413-threads"),
    case("POST", "/assistants", BIG, 413, None, id="413-assistants"),
    case("PATCH", "/threads/{thread}", BIG, 413, None, id="413-thread-patch"),
    case("POST", "/threads/{thread}/runs", BIG, 413, None, id="413-runs"),
    case("POST", "/runs", BIG, 413, None, id="413-stateless-run"),
]


def _big_body() -> bytes:
    prefix = b'{"assistant_id": "noop", "metadata": {"pad": "'
    suffix = b'"}}'
    return prefix + b"x" * (MAX_BODY + 1 - len(prefix) - len(suffix)) + suffix


@pytest.mark.parametrize(("method", "path", "body", "status", "detail"), BAD_INPUT)
def test_bad_input(client, database_url, world, method, path, body, status, detail):
    kwargs: dict[str, Any] = {}
    if body is BIG:
        kwargs = {"data": _big_body(), "content_type": "application/json"}
        assert len(kwargs["data"]) == MAX_BODY + 1
    elif isinstance(body, Raw):
        kwargs = {"data": body.data, "content_type": body.content_type}
    elif body is not NO_BODY:
        kwargs = {"data": world.fill(json.dumps(body)), "content_type": "application/json"}

    before = snapshot(database_url)
    resp = client.open(world.fill(path), method=method, **kwargs)
    message = assert_error(resp, status)
    if detail is not None:
        assert world.fill(detail).lower() in message.lower(), message
    assert snapshot(database_url) == before
    # the world is intact
    run = client.get(f"/threads/{world.thread_id}/runs/{world.run_id}").get_json()
    assert run["status"] == "pending"
