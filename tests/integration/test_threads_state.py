"""Threads and their state through the official ``langgraph_sdk`` clients (sync and async), on
real ``web`` and ``worker`` processes: state (latest, at a checkpoint), history (``limit``,
``before``, ``metadata``), ``update_state`` (``as_node``, forks, refused while a run is
unfinished), runs from a past checkpoint, ``durability``, copy, prune, search and count by
``values``/``status``/``ids``/``extract``, thread TTLs (the sweeper's job, and the real sweeper
process), the assistants' schemas and subgraphs; and bad input (4xx JSON, nothing written).

Expected values are computed here from the graphs' documented behaviour (``accumulate``: sums
``numbers`` across runs; ``review``: ``tests/graphs/hitl.py``).
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Any

import psycopg
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnprocessableEntityError,
)

from app.store.db import Database
from sweeper.threads import sweep_ttl
from tests.support import Stack, wait_for

pytestmark = pytest.mark.timeout(240)


def accumulated(numbers: list[float], runs: int) -> dict[str, Any]:
    total = sum(numbers)
    return {
        "numbers": numbers,
        "total": total,
        "count": len(numbers),
        "mean": total / len(numbers),
        "runs": runs,
    }


def rows(database_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, params).fetchall()


def checkpoints(database_url: str, thread_id: str) -> int:
    """Rows of the thread in LangGraph's three checkpoint tables."""
    return sum(
        rows(database_url, f"SELECT count(*) FROM {table} WHERE thread_id = %s", (thread_id,))[0][0]
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
    )


def steps(history: list[dict]) -> list[int]:
    return [state["metadata"]["step"] for state in history]


# --- state, history, checkpoints --------------------------------------------------------------


def test_state_history_and_checkpoints(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    with get_sync_client(url=web.url) as client:
        tid = client.threads.create()["thread_id"]
        assert client.runs.wait(tid, "accumulate", input={"numbers": [1, 2]}) == accumulated(
            [1, 2], 1
        )
        first_end = client.threads.get_state(tid)
        assert client.runs.wait(tid, "accumulate", input={"numbers": [3]}) == accumulated(
            [1, 2, 3], 2
        )

        state = client.threads.get_state(tid)
        assert state["values"] == accumulated([1, 2, 3], 2)
        assert state["next"] == [] and state["tasks"] == [] and state["interrupts"] == []
        assert state["checkpoint"]["thread_id"] == tid
        assert state["metadata"]["graph_id"] == "accumulate"

        # two runs of validate → summarize, each: input, start, validate, summarize checkpoints
        history = client.threads.get_history(tid, limit=100)
        assert steps(history) == [6, 5, 4, 3, 2, 1, 0, -1]
        assert history[0]["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
        for newer, older in zip(history, history[1:], strict=False):
            assert newer["parent_checkpoint"]["checkpoint_id"] == older["checkpoint_id"]
        assert history[-1]["parent_checkpoint"] is None
        assert history[4]["checkpoint_id"] == first_end["checkpoint_id"]
        assert history[5]["next"] == ["summarize"]

        # limit, before (an id or a checkpoint object), metadata filter
        assert steps(client.threads.get_history(tid, limit=3)) == [6, 5, 4]
        by_get = client.http.get(
            f"/threads/{tid}/history", params={"limit": 2, "before": history[0]["checkpoint_id"]}
        )
        assert steps(by_get) == [5, 4]
        assert steps(client.threads.get_history(tid, before=history[2]["checkpoint_id"])) == [
            3,
            2,
            1,
            0,
            -1,
        ]
        before = {"checkpoint_id": history[5]["checkpoint_id"]}
        assert steps(client.threads.get_history(tid, limit=2, before=before)) == [0, -1]
        only = client.threads.get_history(tid, limit=100, metadata={"step": 2})
        assert [s["checkpoint_id"] for s in only] == [first_end["checkpoint_id"]]
        assert only[0]["values"] == accumulated([1, 2], 1)

        # the state at a past checkpoint, by GET …/state/{id} and POST …/state/checkpoint
        at = client.threads.get_state(tid, checkpoint_id=first_end["checkpoint_id"])
        assert at["values"] == accumulated([1, 2], 1)
        assert at["checkpoint"]["checkpoint_id"] == first_end["checkpoint_id"]
        at = client.threads.get_state(
            tid, checkpoint={"checkpoint_id": history[5]["checkpoint_id"]}
        )
        assert at["values"] == {"numbers": [1, 2], "runs": 1}
        assert at["next"] == ["summarize"] and at["tasks"][0]["name"] == "summarize"

        # select: fields, or one key of the values
        picked = client.threads.get_state(tid, select=["values.total", "next"])
        assert picked == {"values": {"total": 6}, "next": []}

        with pytest.raises(NotFoundError):
            client.threads.get_state(tid, checkpoint_id="1f000000-0000-6000-8000-000000000000")
        with pytest.raises(NotFoundError):
            client.threads.get_state(tid, checkpoint={"checkpoint_id": "nope"})
        with pytest.raises(NotFoundError):
            client.threads.get_history(str(uuid.uuid4()))
        with pytest.raises(NotFoundError):
            client.threads.get_state(str(uuid.uuid4()))

        # a thread no run named a graph for: empty state, no history
        bare = client.threads.create()["thread_id"]
        assert client.threads.get_state(bare)["values"] == {}
        assert client.threads.get_history(bare) == []

        # found by its values; copied with its history; pruned
        assert [t["thread_id"] for t in client.threads.search(values={"total": 6})] == [tid]
        assert client.threads.count(values={"numbers": [1, 3]}) == 1
        copy = client.threads.copy(tid)
        assert client.threads.get_state(copy["thread_id"])["values"] == state["values"]
        assert len(client.threads.get_history(copy["thread_id"], limit=100)) == len(history)
        assert client.threads.prune([copy["thread_id"], bare]) == {"pruned_count": 2}
        assert client.threads.count(values={"numbers": [1, 3]}) == 1


def test_run_from_a_past_checkpoint_and_durability(stack: Stack) -> None:
    web = stack.web()
    stack.worker()

    async def scenario() -> None:
        async with get_client(url=web.url) as client:
            tid = (await client.threads.create())["thread_id"]
            await client.runs.wait(tid, "accumulate", input={"numbers": [1]})
            first_end = (await client.threads.get_state(tid))["checkpoint_id"]
            await client.runs.wait(tid, "accumulate", input={"numbers": [2]})

            # from the end of the first run: the second run's number is not in this branch
            forked = await client.runs.wait(
                tid, "accumulate", input={"numbers": [5]}, checkpoint_id=first_end
            )
            assert forked == accumulated([1, 5], 2)
            assert (await client.threads.get(tid))["values"] == accumulated([1, 5], 2)
            branch = await client.threads.get_history(tid, limit=4)
            assert branch[-1]["parent_checkpoint"]["checkpoint_id"] == first_end
            assert (await client.threads.get_state(tid))["values"] == forked

            # durability: a checkpoint per step (sync, async), or only the final one (exit)
            lengths = {}
            for durability in ("sync", "async", "exit"):
                thread = (await client.threads.create())["thread_id"]
                out = await client.runs.wait(
                    thread, "accumulate", input={"numbers": [4]}, durability=durability
                )
                assert out == accumulated([4], 1)
                lengths[durability] = len(await client.threads.get_history(thread, limit=100))
                state = await client.threads.get_state(thread)
                assert state["values"] == accumulated([4], 1)
            assert lengths == {"sync": 4, "async": 4, "exit": 1}

    asyncio.run(scenario())


# --- update_state -------------------------------------------------------------------------------


def test_update_state(stack: Stack, settings: Any) -> None:
    web = stack.web()
    stack.worker()
    with get_sync_client(url=web.url) as client:
        tid = client.threads.create()["thread_id"]
        client.runs.wait(tid, "accumulate", input={"numbers": [1, 2]})
        end = client.threads.get_state(tid)

        # as if validate had just run: summarize is next, the thread waits (interrupted)
        written = client.threads.update_state(tid, {"numbers": [10]}, as_node="validate")
        cid = written["checkpoint"]["checkpoint_id"]
        assert written["checkpoint"]["thread_id"] == tid
        state = client.threads.get_state(tid)
        assert state["checkpoint_id"] == cid
        assert state["parent_checkpoint"]["checkpoint_id"] == end["checkpoint_id"]
        assert state["values"]["numbers"] == [1, 2, 10]
        assert state["values"]["total"] == 3  # summarize has not run yet
        assert state["next"] == ["summarize"]
        assert state["metadata"]["source"] == "update"
        thread = client.threads.get(tid)
        assert thread["status"] == "interrupted"
        assert thread["values"]["numbers"] == [1, 2, 10]
        assert client.threads.get_history(tid, limit=1)[0]["checkpoint_id"] == cid

        # continue: summarize runs on the updated state
        resumed = client.runs.wait(tid, "accumulate", input=None)
        assert resumed == accumulated([1, 2, 10], 1)
        assert client.threads.get(tid)["status"] == "idle"

        # fork from the end of the first run
        forked = client.threads.update_state(
            tid, {"numbers": [100]}, as_node="validate", checkpoint_id=end["checkpoint_id"]
        )
        state = client.threads.get_state(tid)
        assert state["checkpoint_id"] == forked["checkpoint"]["checkpoint_id"]
        assert state["parent_checkpoint"]["checkpoint_id"] == end["checkpoint_id"]
        assert state["values"]["numbers"] == [1, 2, 100]
        assert client.threads.get(tid)["values"]["numbers"] == [1, 2, 100]

        # refused: nothing is written
        count = len(client.threads.get_history(tid, limit=100))
        with pytest.raises(BadRequestError) as bad_node:
            client.threads.update_state(tid, {"numbers": [1]}, as_node="nope")
        assert "nope" in bad_node.value.response.json()["detail"]
        with pytest.raises(UnprocessableEntityError):  # operator.add(list, int)
            client.threads.update_state(tid, {"numbers": 5}, as_node="validate")
        with pytest.raises(UnprocessableEntityError):
            client.threads.update_state(tid, "x")  # type: ignore[arg-type]
        with pytest.raises(NotFoundError):
            client.threads.update_state(tid, {"numbers": [1]}, checkpoint_id="nope")
        with pytest.raises(NotFoundError):
            client.threads.update_state(str(uuid.uuid4()), {"numbers": [1]})
        assert len(client.threads.get_history(tid, limit=100)) == count
        assert client.threads.get_state(tid)["values"]["numbers"] == [1, 2, 100]

        bare = client.threads.create()["thread_id"]
        with pytest.raises(BadRequestError):  # no run named a graph yet
            client.threads.update_state(bare, {"numbers": [1]})
        assert checkpoints(settings.database_url, bare) == 0

        # refused while a run of the thread is running, or pending behind it
        busy = client.threads.create()["thread_id"]
        running = client.runs.create(busy, "sleeper", input={"seconds": 60})
        wait_for(
            lambda: client.runs.get(busy, running["run_id"])["status"] == "running",
            what="sleeper running",
        )
        queued = client.runs.create(busy, "sleeper", input={"seconds": 60})
        before = checkpoints(settings.database_url, busy)
        with pytest.raises(ConflictError):
            client.threads.update_state(busy, {"slept": 1})
        assert checkpoints(settings.database_url, busy) == before
        client.runs.cancel(busy, running["run_id"], wait=True)
        assert client.runs.get(busy, queued["run_id"])["status"] in ("pending", "running")
        with pytest.raises(ConflictError):
            client.threads.update_state(busy, {"slept": 1})
        client.runs.cancel(busy, queued["run_id"], wait=True)


# --- copy, prune ----------------------------------------------------------------------------------


def test_copy_and_prune(stack: Stack, settings: Any) -> None:
    web = stack.web()
    stack.worker()
    db_url = settings.database_url

    async def scenario() -> None:
        async with get_client(url=web.url) as client:
            tid = (await client.threads.create(metadata={"owner": "ann"}))["thread_id"]
            await client.runs.wait(tid, "accumulate", input={"numbers": [1]})
            await client.runs.wait(tid, "accumulate", input={"numbers": [2]})
            history = await client.threads.get_history(tid, limit=100)
            assert len(history) == 8

            copy = await client.threads.copy(tid)
            cid = copy["thread_id"]
            assert cid != tid
            assert copy["metadata"] == {**(await client.threads.get(tid))["metadata"]}
            assert copy["values"] == accumulated([1, 2], 2) and copy["status"] == "idle"
            copied = await client.threads.get_history(cid, limit=100)
            assert [s["checkpoint_id"] for s in copied] == [s["checkpoint_id"] for s in history]
            assert [s["values"] for s in copied] == [s["values"] for s in history]
            assert all(s["checkpoint"]["thread_id"] == cid for s in copied)
            assert checkpoints(db_url, cid) == checkpoints(db_url, tid)
            # the copy has no runs, and goes its own way
            assert await client.runs.list(cid) == []
            assert await client.runs.wait(cid, "accumulate", input={"numbers": [7]}) == (
                accumulated([1, 2, 7], 3)
            )
            assert (await client.threads.get_state(tid))["values"] == accumulated([1, 2], 2)
            with pytest.raises(NotFoundError):
                await client.threads.copy(str(uuid.uuid4()))

            # prune, delete: the threads, their runs and checkpoints go; unknown ids are skipped
            assert await client.threads.prune([cid, str(uuid.uuid4())]) == {"pruned_count": 1}
            with pytest.raises(NotFoundError):
                await client.threads.get(cid)
            assert checkpoints(db_url, cid) == 0
            assert rows(db_url, "SELECT count(*) FROM runs WHERE thread_id = %s", (cid,)) == [(0,)]
            assert (await client.threads.get(tid))["values"] == accumulated([1, 2], 2)

            # prune, keep_latest: the thread keeps its state and only its latest checkpoint
            latest = (await client.threads.get_state(tid))["checkpoint_id"]
            assert await client.threads.prune([tid], strategy="keep_latest") == {"pruned_count": 1}
            kept = await client.threads.get_history(tid, limit=100)
            assert [s["checkpoint_id"] for s in kept] == [latest]
            assert kept[0]["values"] == accumulated([1, 2], 2)
            assert rows(
                db_url, "SELECT count(*) FROM checkpoints WHERE thread_id = %s", (tid,)
            ) == [(1,)]
            # and runs go on from it
            assert await client.runs.wait(tid, "accumulate", input={"numbers": [3]}) == (
                accumulated([1, 2, 3], 3)
            )
            assert await client.threads.prune([]) == {"pruned_count": 0}

    asyncio.run(scenario())


# --- search, count, statuses ----------------------------------------------------------------------


def test_search_and_count_by_values_status_ids_and_extract(stack: Stack) -> None:
    web = stack.web()
    stack.worker()

    async def scenario() -> None:
        async with get_client(url=web.url) as client:
            owner = {"owner": uuid.uuid4().hex}
            new = client.threads.create
            idle = (await new(metadata=owner))["thread_id"]
            failed = (await new(metadata=owner))["thread_id"]
            paused = (await new(metadata=owner))["thread_id"]
            busy = (await new(metadata=owner))["thread_id"]
            await client.runs.wait(idle, "accumulate", input={"numbers": [1, 2]})
            await client.runs.wait(
                failed, "accumulate", input={"numbers": [1, "x"]}, raise_error=False
            )
            await client.runs.wait(paused, "review", input={"topic": "cats"})
            running = await client.runs.create(busy, "sleeper", input={"seconds": 60})
            for _ in range(600):
                if (await client.runs.get(busy, running["run_id"]))["status"] == "running":
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the sleeper run never started running (30 s)")

            async def found(**filters: Any) -> list[str]:
                threads = await client.threads.search(metadata=owner, limit=50, **filters)
                return sorted(t["thread_id"] for t in threads)

            assert await found(status="idle") == [idle]
            assert await found(status="error") == [failed]
            assert await found(status="interrupted") == [paused]
            assert await found(status="busy") == [busy]
            assert await found(values={"total": 3}) == [idle]
            assert await found(values={"numbers": [2]}) == [idle]  # JSONB containment
            assert await found(values={"topic": "cats"}) == [paused]
            assert await found(values={"total": 4}) == []
            assert await found(ids=[idle, paused], status="interrupted") == [paused]
            assert await client.threads.count(metadata=owner) == 4
            assert await client.threads.count(metadata=owner, values={"count": 2}) == 1
            assert await client.threads.count(metadata=owner, status="error") == 1

            by_state = await client.threads.search(
                metadata=owner, sort_by="state_updated_at", sort_order="asc", limit=50
            )
            stamps = [t["state_updated_at"] for t in by_state]
            assert stamps == sorted(stamps)

            extracted = await client.threads.search(
                ids=[idle],
                select=["thread_id"],
                extract={
                    "total": "values.total",
                    "last": "values.numbers[-1]",
                    "who": "metadata.owner",
                    "gone": "values.nope.deeper",
                },
            )
            assert extracted == [
                {
                    "thread_id": idle,
                    "extracted": {"total": 3, "last": 2, "who": owner["owner"], "gone": None},
                }
            ]
            for bad in (
                {"a": "nowhere.x"},
                {"thread_id": "values.total"},
                {"not-an-identifier": "values.total"},
                {f"k{i}": "values.total" for i in range(11)},
            ):
                with pytest.raises(UnprocessableEntityError):
                    await client.threads.search(extract=bad)

            # the interrupted thread names its pending interrupt by task
            thread = await client.threads.get(paused)
            ((task_id, interrupts),) = thread["interrupts"].items()
            assert interrupts[0]["value"]["question"] == "publish?"
            state = await client.threads.get_state(paused)
            assert state["tasks"][0]["id"] == task_id
            assert state["interrupts"] == interrupts
            assert (await client.threads.get(idle))["interrupts"] == {}

            await client.runs.cancel(busy, running["run_id"], wait=True)
            assert await found(status="busy") == []

    asyncio.run(scenario())


# --- TTL ------------------------------------------------------------------------------------------


def test_thread_ttl_is_kept_and_the_sweep_job_applies_it(stack: Stack, settings: Any) -> None:
    web = stack.web()
    stack.worker()
    db_url = settings.database_url
    with get_sync_client(url=web.url) as client:
        doomed = client.threads.create(ttl=5)["thread_id"]
        client.runs.wait(doomed, "accumulate", input={"numbers": [1]})
        trimmed = client.threads.create(ttl={"ttl": 10, "strategy": "keep_latest"})["thread_id"]
        client.runs.wait(trimmed, "accumulate", input={"numbers": [1]})
        client.runs.wait(trimmed, "accumulate", input={"numbers": [2]})
        forever = client.threads.create()["thread_id"]
        busy = client.threads.create(ttl=1)["thread_id"]
        running = client.runs.create(busy, "sleeper", input={"seconds": 60})
        wait_for(lambda: client.runs.get(busy, running["run_id"])["status"] == "running")

        ttl = client.threads.get(doomed, include=["ttl"])["ttl"]
        assert ttl["strategy"] == "delete" and ttl["ttl_minutes"] == 5
        expires = datetime.datetime.fromisoformat(ttl["expires_at"])
        created = datetime.datetime.fromisoformat(client.threads.get(doomed)["created_at"])
        assert expires - created == datetime.timedelta(minutes=5)
        assert "ttl" not in client.threads.get(doomed)
        assert client.threads.get(forever, include=["ttl"])["ttl"] is None

    async def update_ttl() -> None:
        async with get_client(url=web.url) as aclient:
            updated = await aclient.threads.update(forever, metadata={"k": 1}, ttl=20)
            assert updated["metadata"] == {"k": 1}
            ttl = (await aclient.threads.get(forever, include=["ttl"]))["ttl"]
            assert ttl["ttl_minutes"] == 20 and ttl["strategy"] == "delete"
            quiet = await aclient.threads.update(forever, metadata={"k": 2}, return_minimal=True)
            assert quiet is None  # 204, Prefer: return=minimal
            again = await aclient.threads.get(forever, include=["ttl"])
            assert again["metadata"] == {"k": 2} and again["ttl"] == ttl  # no ttl: unchanged

    asyncio.run(update_ttl())

    db = Database(db_url, max_size=2)
    try:
        now = datetime.datetime.now(datetime.UTC)
        nothing = sweep_ttl(db, now)
        assert (nothing.threads_deleted, nothing.threads_trimmed) == (0, 0)

        later = sweep_ttl(db, now + datetime.timedelta(minutes=11))
        # doomed (5 min) and trimmed (10 min) are due; forever (20 min) is not; busy has a run
        assert later.threads_deleted == 1 and later.threads_trimmed == 1
        with get_sync_client(url=web.url) as client:
            with pytest.raises(NotFoundError):
                client.threads.get(doomed)
            assert checkpoints(db_url, doomed) == 0
            assert rows(db_url, "SELECT count(*) FROM runs WHERE thread_id = %s", (doomed,)) == [
                (0,)
            ]
            kept = client.threads.get_history(trimmed, limit=100)
            assert len(kept) == 1 and kept[0]["values"] == accumulated([1, 2], 2)
            rearmed = client.threads.get(trimmed, include=["ttl"])["ttl"]
            assert datetime.datetime.fromisoformat(
                rearmed["expires_at"]
            ) > now + datetime.timedelta(minutes=20)
            assert client.threads.get(forever)["thread_id"] == forever
            assert client.threads.get(busy)["status"] == "busy"

            client.runs.cancel(busy, running["run_id"], wait=True)
        again = sweep_ttl(db, now + datetime.timedelta(minutes=11))
        assert again.threads_deleted == 1  # busy, now that its run ended
        assert again.threads_trimmed == 0  # trimmed was re-armed
    finally:
        db.close()


def test_the_sweeper_process_deletes_an_expired_thread(stack: Stack, settings: Any) -> None:
    web = stack.web()
    stack.worker()
    stack.sweeper()
    with get_sync_client(url=web.url) as client:
        short = client.threads.create(ttl=0.02)["thread_id"]  # 1.2 s
        client.runs.wait(short, "accumulate", input={"numbers": [1]})
        kept = client.threads.create(ttl=60)["thread_id"]

        def gone() -> bool:
            try:
                client.threads.get(short)
            except NotFoundError:
                return True
            return False

        wait_for(gone, timeout=30, interval=0.2, what="the expired thread deleted")
        assert checkpoints(settings.database_url, short) == 0
        assert client.threads.get(kept)["thread_id"] == kept


# --- assistants: schemas, subgraphs -------------------------------------------------------------


def test_assistant_schemas_and_subgraphs(stack: Stack) -> None:
    web = stack.web()
    review_state = {"topic", "draft", "verdict", "published", "log"}
    with get_sync_client(url=web.url) as client:
        schemas = client.assistants.get_schemas("review")
        assert schemas["graph_id"] == "review"
        assert set(schemas["input_schema"]["properties"]) == review_state
        assert set(schemas["output_schema"]["properties"]) == review_state
        assert set(schemas["state_schema"]["properties"]) == review_state
        assert schemas["state_schema"]["properties"]["log"]["items"] == {"type": "string"}
        assert schemas["context_schema"]["properties"]["reviewer"]["default"] == "anyone"
        assert schemas["config_schema"]["properties"] == schemas["context_schema"]["properties"]

        accumulate = client.assistants.get_schemas("accumulate")
        total = accumulate["state_schema"]["properties"]["total"]
        assert total["type"] == "number"
        assert accumulate["config_schema"] == {} and accumulate["context_schema"] is None
        by_id = client.assistants.get(accumulate["graph_id"])["assistant_id"]
        assert client.assistants.get_schemas(by_id) == accumulate

        assert client.assistants.get_subgraphs("accumulate") == {}

        # the drawing, as the official server answers it (no class paths in the nodes' data)
        nodes = ["__start__", "validate", "summarize"]
        assert client.assistants.get_graph("accumulate") == {
            "nodes": [{"id": n, "type": "runnable", "data": {"name": n}} for n in nodes]
            + [{"id": "__end__"}],
            "edges": [
                {"source": "__start__", "target": "validate"},
                {"source": "validate", "target": "summarize"},
                {"source": "summarize", "target": "__end__"},
            ],
        }
        drawn = client.assistants.get_graph("review_team", xray=True)["nodes"]
        assert {n["id"] for n in drawn} >= {"team:draft", "team:review", "team:publish"}
        with pytest.raises(NotFoundError):
            client.assistants.get_schemas(str(uuid.uuid4()))

    async def subgraphs() -> None:
        async with get_client(url=web.url) as aclient:
            team = await aclient.assistants.get_subgraphs("review_team")
            assert list(team) == ["team"]
            assert set(team["team"]["state_schema"]["properties"]) == review_state
            assert await aclient.assistants.get_subgraphs("review_team", namespace="team") == team
            assert await aclient.assistants.get_subgraphs("review_team", recurse=True) == team
            assert await aclient.assistants.get_subgraphs("review_team", namespace="x") == {}
            with pytest.raises(UnprocessableEntityError):
                await aclient.assistants.get_subgraphs("no-such-graph")

    asyncio.run(subgraphs())


# --- bad input ------------------------------------------------------------------------------------

THREAD = "00000000-0000-4000-8000-000000000001"  # created by the fixture below
MISSING = "00000000-0000-4000-8000-0000000000ff"

BAD = [
    ("POST", "/threads", {"ttl": {"ttl": "5"}}, 422),
    ("POST", "/threads", {"ttl": {"ttl": 0}}, 422),
    ("POST", "/threads", {"ttl": {"ttl": 5, "strategy": "archive"}}, 422),
    ("POST", "/threads", {"ttl": 5}, 422),
    ("POST", "/threads", {"ttl": {"ttl": 5, "zzz": 1}}, 422),
    ("PATCH", f"/threads/{THREAD}", {"metadata": {}, "ttl": {"ttl": -1}}, 422),
    ("GET", f"/threads/{THREAD}?include=secrets", None, 422),
    ("POST", "/threads/search", {"values": [1]}, 422),
    ("POST", "/threads/search", {"extract": {"a": 1}}, 422),
    ("POST", "/threads/search", {"extract": {"a": "nowhere"}}, 422),
    ("POST", "/threads/search", {"sort_by": "values"}, 422),
    ("POST", "/threads/count", {"values": "x"}, 422),
    ("POST", "/threads/prune", {}, 422),
    ("POST", "/threads/prune", {"thread_ids": ["x"]}, 422),
    ("POST", "/threads/prune", {"thread_ids": [THREAD], "strategy": "all"}, 422),
    ("POST", "/threads/prune", {"thread_ids": THREAD}, 422),
    ("POST", "/threads/x/copy", None, 422),
    ("POST", f"/threads/{MISSING}/copy", None, 404),
    ("GET", "/threads/x/state", None, 422),
    ("GET", f"/threads/{MISSING}/state", None, 404),
    ("GET", f"/threads/{THREAD}/state?subgraphs=maybe", None, 422),
    ("GET", f"/threads/{THREAD}/state?select=nothing", None, 422),
    ("GET", f"/threads/{THREAD}/state?zzz=1", None, 422),
    ("GET", f"/threads/{THREAD}/state/1f000000-0000-6000-8000-000000000000", None, 404),
    ("POST", f"/threads/{THREAD}/state/checkpoint", {}, 422),
    ("POST", f"/threads/{THREAD}/state/checkpoint", {"checkpoint": "x"}, 422),
    ("POST", f"/threads/{THREAD}/state/checkpoint", {"checkpoint": {"zzz": 1}}, 422),
    ("POST", f"/threads/{THREAD}/state", {}, 422),
    ("POST", f"/threads/{THREAD}/state", {"values": 1}, 422),
    ("POST", f"/threads/{THREAD}/state", {"values": {}, "as_node": 3}, 422),
    ("POST", f"/threads/{THREAD}/state", {"values": {}, "zzz": 1}, 422),
    ("POST", f"/threads/{MISSING}/state", {"values": {}}, 404),
    ("POST", f"/threads/{THREAD}/state", {"values": {"numbers": [1]}}, 409),  # a pending run
    ("POST", f"/threads/{THREAD}/history", {"limit": 0}, 422),
    ("POST", f"/threads/{THREAD}/history", {"limit": "2"}, 422),
    ("POST", f"/threads/{THREAD}/history", {"before": 3}, 422),
    ("POST", f"/threads/{THREAD}/history", {"before": {"checkpoint": 1}}, 422),
    ("POST", f"/threads/{THREAD}/history", {"metadata": []}, 422),
    ("POST", f"/threads/{THREAD}/history", {"zzz": 1}, 422),
    ("POST", f"/threads/{MISSING}/history", {}, 404),
    ("GET", f"/threads/{THREAD}/history?limit=x", None, 422),
    ("GET", "/assistants/accumulate/subgraphs?recurse=sometimes", None, 422),
    ("GET", "/assistants/no-such-graph/schemas", None, 422),
    ("GET", f"/assistants/{MISSING}/schemas", None, 404),
    ("GET", f"/assistants/{MISSING}/subgraphs", None, 404),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"), BAD, ids=[f"{m} {p} {b}" for m, p, b, _ in BAD]
)
def test_bad_input(
    client: Any, database_url: str, method: str, path: str, body: Any, status: int
) -> None:
    assert client.post("/threads", json={"thread_id": THREAD}).status_code == 200
    run = client.post(f"/threads/{THREAD}/runs", json={"assistant_id": "accumulate"})
    assert run.status_code == 200  # pending: no worker in this test
    before = {
        table: rows(database_url, f"SELECT count(*) FROM {table}")[0][0]
        for table in ("threads", "runs", "checkpoints", "checkpoint_writes", "store")
    }
    thread_before = rows(database_url, "SELECT * FROM threads WHERE thread_id = %s", (THREAD,))

    resp = (
        client.open(path, method=method, json=body)
        if body is not None
        else client.open(path, method=method)
    )

    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.is_json and isinstance(resp.get_json()["detail"], str)
    after = {
        table: rows(database_url, f"SELECT count(*) FROM {table}")[0][0]
        for table in ("threads", "runs", "checkpoints", "checkpoint_writes", "store")
    }
    assert after == before
    assert rows(database_url, "SELECT * FROM threads WHERE thread_id = %s", (THREAD,)) == (
        thread_before
    )
