"""Human in the loop, end to end: real ``web`` and ``worker`` processes driven only through the
official ``langgraph_sdk`` clients (sync and async).

The ``review`` graph (``tests/graphs/hitl.py``) drafts a post, stops at ``interrupt()`` for a
verdict, then publishes on ``"approve"``. A person reads the pending interrupt (on the thread and
in its state), edits the state, resumes with ``Command(resume=…)`` (also with ``update`` and by
interrupt id), jumps with ``goto``, and pauses the graph with ``interrupt_before`` /
``interrupt_after``; ``review_team`` runs the same graph as a subgraph.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph_sdk import get_client, get_sync_client

from tests.support import Stack

pytestmark = pytest.mark.timeout(180)

QUESTION = "publish?"


def draft_of(topic: str, reviewer: str = "anyone") -> str:
    return f"a post about {topic} for {reviewer}"


def only_interrupt(thread: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The thread's single pending interrupt: (task id, {"value", "id"})."""
    assert thread["status"] == "interrupted", thread
    ((task_id, interrupts),) = thread["interrupts"].items()
    (interrupt,) = interrupts
    return task_id, interrupt


def test_interrupt_edit_resume_and_goto(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    with get_sync_client(url=web.url) as client:
        tid = client.threads.create()["thread_id"]
        run = client.runs.create(tid, "review", input={"topic": "cats"}, context={"reviewer": "bo"})
        client.runs.join(tid, run["run_id"])
        assert client.runs.get(tid, run["run_id"])["status"] == "success"

        # the pending interrupt, on the thread and in its state
        thread = client.threads.get(tid)
        task_id, interrupt = only_interrupt(thread)
        assert interrupt["value"] == {"question": QUESTION, "draft": draft_of("cats", "bo")}
        assert thread["values"] == {
            "topic": "cats",
            "draft": draft_of("cats", "bo"),
            "log": ["draft"],
        }
        state = client.threads.get_state(tid)
        assert state["next"] == ["review"]
        assert [t["id"] for t in state["tasks"]] == [task_id]
        assert state["tasks"][0]["interrupts"] == [interrupt]
        assert state["interrupts"] == [interrupt]
        assert client.threads.search(ids=[tid], status="interrupted")[0]["thread_id"] == tid

        # a person edits the draft: as if "draft" had produced it, so review asks again
        client.threads.update_state(tid, {"draft": "an edited post"}, as_node="draft")
        client.runs.wait(tid, "review", input=None)
        _, asked_again = only_interrupt(client.threads.get(tid))
        assert asked_again["value"] == {"question": QUESTION, "draft": "an edited post"}

        # resume with the verdict, and a state update in the same command
        out = client.runs.wait(
            tid, "review", command={"resume": "approve", "update": {"topic": "dogs"}}
        )
        assert out == {
            "topic": "dogs",
            "draft": "an edited post",
            "verdict": "approve",
            "published": True,
            "log": ["draft", "review", "publish"],  # the edit named no log entry
        }
        thread = client.threads.get(tid)
        assert thread["status"] == "idle" and thread["interrupts"] == {}
        assert thread["values"] == out
        assert client.threads.get_state(tid)["next"] == []

        # a rejected post, then goto: run "publish" again with the verdict changed
        other = client.threads.create()["thread_id"]
        client.runs.wait(other, "review", input={"topic": "rain"})
        out = client.runs.wait(other, "review", command={"resume": "reject"})
        assert out["published"] is False and out["verdict"] == "reject"
        out = client.runs.wait(
            other, "review", command={"goto": "publish", "update": {"verdict": "approve"}}
        )
        assert out["published"] is True
        assert out["log"] == ["draft", "review", "publish", "publish"]
        assert client.threads.get(other)["status"] == "idle"


def test_interrupt_before_after_and_resume_by_id(stack: Stack) -> None:
    web = stack.web()
    stack.worker()

    async def scenario() -> None:
        async with get_client(url=web.url) as client:
            # interrupt_after draft: a static pause, with no interrupt value to answer
            tid = (await client.threads.create())["thread_id"]
            await client.runs.wait(tid, "review", input={"topic": "sun"}, interrupt_after=["draft"])
            thread = await client.threads.get(tid)
            assert thread["status"] == "interrupted" and thread["interrupts"] == {}
            state = await client.threads.get_state(tid)
            assert state["next"] == ["review"] and state["interrupts"] == []
            assert state["values"]["log"] == ["draft"]

            # continuing reaches the dynamic interrupt; resume it by its id
            await client.runs.wait(tid, "review", input=None)
            _, interrupt = only_interrupt(await client.threads.get(tid))
            assert interrupt["value"]["draft"] == draft_of("sun")

            # resumed, but paused again before publish (interrupt_before)
            await client.runs.wait(
                tid,
                "review",
                command={"resume": {interrupt["id"]: "reject"}},
                interrupt_before=["publish"],
            )
            thread = await client.threads.get(tid)
            assert thread["status"] == "interrupted" and thread["interrupts"] == {}
            assert thread["values"]["verdict"] == "reject"
            assert "published" not in thread["values"]
            assert (await client.threads.get_state(tid))["next"] == ["publish"]

            # a person overrules the verdict before publish runs
            await client.threads.update_state(tid, {"verdict": "approve"}, as_node="review")
            thread = await client.threads.get(tid)
            assert thread["status"] == "interrupted" and thread["values"]["verdict"] == "approve"
            assert (await client.threads.get_state(tid))["next"] == ["publish"]

            out = await client.runs.wait(tid, "review", input=None)
            assert out["published"] is True and out["log"] == ["draft", "review", "publish"]
            assert (await client.threads.get(tid))["status"] == "idle"

            # the whole conversation is in the history, newest first
            history = await client.threads.get_history(tid, limit=100)
            assert history[0]["values"] == out
            assert history[-1]["next"] == ["__start__"]
            assert history[-1]["parent_checkpoint"] is None

    asyncio.run(scenario())


def test_interrupt_inside_a_subgraph(stack: Stack) -> None:
    web = stack.web()
    stack.worker()
    with get_sync_client(url=web.url) as client:
        tid = client.threads.create()["thread_id"]
        client.runs.wait(tid, "review_team", input={"topic": "owls"})

        # the parent's task "team" carries the subgraph's interrupt
        task_id, interrupt = only_interrupt(client.threads.get(tid))
        assert interrupt["value"] == {"question": QUESTION, "draft": draft_of("owls")}
        state = client.threads.get_state(tid)
        assert state["next"] == ["team"]
        (task,) = state["tasks"]
        assert task["id"] == task_id and task["name"] == "team"
        assert task["state"] is None  # only with subgraphs=True

        nested = client.threads.get_state(tid, subgraphs=True)
        inner = nested["tasks"][0]["state"]
        assert inner["next"] == ["review"]
        assert inner["values"]["draft"] == draft_of("owls")
        assert inner["tasks"][0]["interrupts"] == [interrupt]
        assert inner["checkpoint"]["checkpoint_ns"].startswith("team:")

        # the subgraph's own state, by its checkpoint
        sub = client.threads.get_state(tid, checkpoint=inner["checkpoint"])
        assert sub["values"] == inner["values"] and sub["next"] == ["review"]

        out = client.runs.wait(tid, "review_team", command={"resume": "approve"})
        assert out["published"] is True
        assert out["log"] == ["draft", "review", "publish"]
        thread = client.threads.get(tid)
        assert thread["status"] == "idle" and thread["interrupts"] == {}
