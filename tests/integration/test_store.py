"""The long-term memory store through the official ``langgraph_sdk`` clients (sync and async) on
a real ``web`` process: items (put, get, delete), search (prefix, filter, paging; ``query`` is
ignored: no vector index), namespaces (prefix, suffix, depth, paging), per-item TTL (reads omit
expired items, reads refresh the TTL, the sweeper's job deletes them), a graph that reads and
writes the same store at run time; and bad input (4xx JSON, nothing written).
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import psycopg
import pytest
from langgraph_sdk import get_client, get_sync_client

from app.store.db import Database
from sweeper.threads import sweep_ttl
from tests.support import Stack, wait_for

pytestmark = pytest.mark.timeout(180)


def expires_at(database_url: str, prefix: str, key: str) -> datetime.datetime | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT expires_at FROM store WHERE prefix = %s AND key = %s", (prefix, key)
        ).fetchone()
    assert row is not None, (prefix, key)
    return row[0]


def store_rows(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM store").fetchone()[0]


def test_items_search_and_namespaces(stack: Stack) -> None:
    web = stack.web()
    with get_sync_client(url=web.url) as client:
        store = client.store
        assert store.put_item(["docs", "ann"], key="a", value={"tag": "x", "n": 1}) is None
        store.put_item(["docs", "ann", "drafts"], key="b", value={"tag": "y", "n": 2})
        store.put_item(["docs", "bob"], key="c", value={"tag": "x", "n": 3})
        store.put_item(["notes", "bob"], key="d", value={"tag": "x", "n": 4})

        item = store.get_item(["docs", "ann"], key="a")
        assert item["namespace"] == ["docs", "ann"] and item["key"] == "a"
        assert item["value"] == {"tag": "x", "n": 1}
        assert item["created_at"] == item["updated_at"]
        assert store.get_item(["docs", "ann"], key="nope") is None
        assert store.get_item(["docs"], key="a") is None  # namespaces are exact for get

        # overwrite: same created_at, later updated_at
        store.put_item(["docs", "ann"], key="a", value={"tag": "x", "n": 10})
        again = store.get_item(["docs", "ann"], key="a")
        assert again["value"] == {"tag": "x", "n": 10}
        assert (
            again["created_at"] == item["created_at"] and again["updated_at"] > item["updated_at"]
        )

        # search: under a prefix, newest first, filtered, paged; a query changes nothing
        def keys(**kwargs: Any) -> list[str]:
            return [i["key"] for i in store.search_items(["docs"], **kwargs)["items"]]

        assert keys() == ["a", "c", "b"]  # "a" was updated last
        assert keys(filter={"tag": "x"}) == ["a", "c"]
        assert keys(filter={"n": {"$eq": 3}}) == ["c"]
        assert keys(filter={"tag": {"$ne": "x"}}) == ["b"]
        assert keys(limit=1, offset=1) == ["c"]
        assert keys(query="anything at all") == keys()
        everything = store.search_items([], limit=100)["items"]
        assert sorted(i["key"] for i in everything) == ["a", "b", "c", "d"]
        assert all(i["score"] is None for i in everything)

        # namespaces
        listed = store.list_namespaces()["namespaces"]
        assert listed == [
            ["docs", "ann"],
            ["docs", "ann", "drafts"],
            ["docs", "bob"],
            ["notes", "bob"],
        ]
        assert store.list_namespaces(prefix=["docs"], max_depth=2)["namespaces"] == [
            ["docs", "ann"],
            ["docs", "bob"],
        ]
        assert store.list_namespaces(suffix=["bob"])["namespaces"] == [
            ["docs", "bob"],
            ["notes", "bob"],
        ]
        assert store.list_namespaces(max_depth=1)["namespaces"] == [["docs"], ["notes"]]
        assert store.list_namespaces(limit=2, offset=1)["namespaces"] == listed[1:3]

        # delete (twice: the second is a no-op)
        store.delete_item(["docs", "bob"], key="c")
        store.delete_item(["docs", "bob"], key="c")
        assert store.get_item(["docs", "bob"], key="c") is None
        assert keys() == ["a", "b"]

    async def scenario() -> None:
        async with get_client(url=web.url) as aclient:
            await aclient.store.put_item(["async", "u"], key="k", value={"v": [1, {"two": 2}]})
            got = await aclient.store.get_item(["async", "u"], key="k")
            assert got["value"] == {"v": [1, {"two": 2}]}
            found = await aclient.store.search_items(["async"], filter={"v": [1, {"two": 2}]})
            assert [i["key"] for i in found["items"]] == ["k"]
            listed = await aclient.store.list_namespaces(prefix=["async"])
            assert listed == {"namespaces": [["async", "u"]]}
            await aclient.store.delete_item(["async", "u"], key="k")
            assert await aclient.store.get_item(["async", "u"], key="k") is None
            assert (await aclient.store.list_namespaces(prefix=["async"]))["namespaces"] == []

    asyncio.run(scenario())


def test_item_ttl(stack: Stack, settings: Any) -> None:
    web = stack.web()
    db_url = settings.database_url
    with get_sync_client(url=web.url) as client:
        store = client.store
        store.put_item(["ttl"], key="short", value={"a": 1}, ttl=2)
        store.put_item(["ttl"], key="forever", value={"a": 2})
        assert expires_at(db_url, "ttl", "forever") is None
        first = expires_at(db_url, "ttl", "short")
        assert first is not None

        # a read refreshes the TTL (LangGraph's refresh_on_read), unless told not to
        with psycopg.connect(db_url) as conn:
            conn.execute(
                "UPDATE store SET expires_at = now() + interval '5 seconds' WHERE key = 'short'"
            )
        soon = expires_at(db_url, "ttl", "short")
        assert store.get_item(["ttl"], key="short", refresh_ttl=False)["value"] == {"a": 1}
        assert expires_at(db_url, "ttl", "short") == soon
        store.get_item(["ttl"], key="short")
        refreshed = expires_at(db_url, "ttl", "short")
        assert refreshed - soon > datetime.timedelta(minutes=1)

        # the sweeper's job deletes it once due, and nothing else
        db = Database(db_url, max_size=2)
        try:
            now = datetime.datetime.now(datetime.UTC)
            assert sweep_ttl(db, now).store_items_deleted == 0
            assert sweep_ttl(db, now + datetime.timedelta(minutes=3)).store_items_deleted == 1
        finally:
            db.close()
        assert store.get_item(["ttl"], key="short") is None
        assert store.get_item(["ttl"], key="forever")["value"] == {"a": 2}

        # an expired item is left out of reads at once, before any sweep
        store.put_item(["ttl"], key="blink", value={"a": 3}, ttl=0.001)  # 60 ms
        wait_for(
            lambda: store.get_item(["ttl"], key="blink", refresh_ttl=False) is None,
            timeout=10,
            what="the expired item hidden",
        )
        assert [i["key"] for i in store.search_items(["ttl"], refresh_ttl=False)["items"]] == [
            "forever"
        ]


def test_a_graph_shares_the_store_with_the_api(stack: Stack) -> None:
    web = stack.web()
    stack.worker()

    async def scenario() -> None:
        async with get_client(url=web.url) as client:
            thread = (await client.threads.create())["thread_id"]
            out = await client.runs.wait(
                thread, "memory", input={"user": "ann", "key": "drink", "fact": "tea"}
            )
            assert out["known"] == ["tea"]
            # what the graph wrote, read through the API
            item = await client.store.get_item(["memories", "ann"], key="drink")
            assert item["value"] == {"fact": "tea"}
            # what the API wrote, read by the graph
            await client.store.put_item(["memories", "ann"], key="food", value={"fact": "rice"})
            out = await client.runs.wait(
                None, "memory", input={"user": "ann", "key": "book", "fact": "dune"}
            )
            assert out["known"] == ["dune", "rice", "tea"]
            found = await client.store.search_items(["memories"])
            assert sorted(i["key"] for i in found["items"]) == ["book", "drink", "food"]

    asyncio.run(scenario())


BAD = [
    ("PUT", "/store/items", {"namespace": ["a"], "value": {}}, 422),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": [1]}, 422),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k"}, 422),
    ("PUT", "/store/items", {"namespace": ["a.b"], "key": "k", "value": {}}, 422),
    ("PUT", "/store/items", {"namespace": [""], "key": "k", "value": {}}, 422),
    ("PUT", "/store/items", {"namespace": [], "key": "k", "value": {}}, 422),
    ("PUT", "/store/items", {"namespace": ["langgraph"], "key": "k", "value": {}}, 422),
    ("PUT", "/store/items", {"namespace": "a", "key": "k", "value": {}}, 422),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "", "value": {}}, 422),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "ttl": "1"}, 422),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "ttl": 0}, 422),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "index": "x"}, 422),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "zzz": 1}, 422),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {"s": "nul\u0000"}}, 422),
    ("GET", "/store/items?namespace=a", None, 422),
    ("GET", "/store/items?namespace=a&key=k&refresh_ttl=maybe", None, 422),
    ("GET", "/store/items?namespace=a&key=k&zzz=1", None, 422),
    ("DELETE", "/store/items", {"key": "k"}, 422),
    ("DELETE", "/store/items", {"namespace": ["a"]}, 422),
    ("POST", "/store/items/search", {"limit": 0}, 422),
    ("POST", "/store/items/search", {"filter": [1]}, 422),
    ("POST", "/store/items/search", {"filter": {"a": {"$like": 1}}}, 422),
    ("POST", "/store/items/search", {"namespace_prefix": ["a.b"]}, 422),
    ("POST", "/store/items/search", {"query": 3}, 422),
    ("POST", "/store/namespaces", {"max_depth": 0}, 422),
    ("POST", "/store/namespaces", {"prefix": "a"}, 422),
    ("POST", "/store/namespaces", {"limit": "x"}, 422),
    ("POST", "/store/namespaces", {"zzz": 1}, 422),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"), BAD, ids=[f"{m} {p} {b}" for m, p, b, _ in BAD]
)
def test_bad_input(
    client: Any, database_url: str, method: str, path: str, body: Any, status: int
) -> None:
    put = client.put("/store/items", json={"namespace": ["a"], "key": "k", "value": {"x": 1}})
    assert put.status_code == 204
    before = store_rows(database_url)
    if body is None:
        resp = client.open(path, method=method)
    else:
        resp = client.open(path, method=method, json=body)
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.is_json and isinstance(resp.get_json()["detail"], str)
    assert store_rows(database_url) == before
    item = client.get("/store/items?namespace=a&key=k").get_json()
    assert item["value"] == {"x": 1}
