"""Sweep cases: runs, every method and parameter form of ``langgraph_sdk`` 0.4.14, and what each
route answers for a run in each status (pending, running, success, error, interrupted by a
cancel, stopped at an interrupt)."""

from __future__ import annotations

from tests.sdk_sweep.harness import Recorder


def runs_stateless(rec: Recorder, tag: str) -> None:
    meta = {"sweep": tag}
    rec("wait", "runs.wait", None, "accumulate", input={"numbers": [1, 2]}, metadata=meta)
    rec("wait_error", "runs.wait", None, "accumulate", input={"numbers": ["x"]})
    rec(
        "wait_raise_error",
        "runs.wait",
        None,
        "accumulate",
        input={"numbers": ["x"]},
        raise_error=True,
    )
    rec(
        "wait_on_completion_keep",
        "runs.wait",
        None,
        "accumulate",
        input={"numbers": [1]},
        on_completion="keep",
    )
    rec("stream", "runs.stream", None, "accumulate", input={"numbers": [4]})
    rec(
        "stream_updates",
        "runs.stream",
        None,
        "accumulate",
        input={"numbers": [4]},
        stream_mode="updates",
    )
    rec(
        "stream_error",
        "runs.stream",
        None,
        "accumulate",
        input={"numbers": ["x"]},
        stream_mode=["values", "updates"],
    )
    rec(
        "stream_v2",
        "runs.stream",
        None,
        "accumulate",
        input={"numbers": [4]},
        stream_mode=["values", "updates"],
        version="v2",
    )
    rec("create", "runs.create", None, "sleeper", input={"seconds": 0}, on_completion="keep")
    rec("unknown_assistant", "runs.wait", None, "no_such_graph", input={})
    rec(
        "create_batch",
        "runs.create_batch",
        [
            {"assistant_id": "accumulate", "input": {"numbers": [1]}, "metadata": meta},
            {"assistant_id": "sleeper", "input": {"seconds": 0}, "metadata": meta},
        ],
    )


def runs_stream_modes(rec: Recorder, tag: str) -> None:
    t = rec("create", "threads.create", metadata={"sweep": tag})
    tid = t["thread_id"]
    one = {"input": {"numbers": [1]}}
    both = ["values", "updates"]
    modes = ("values", "updates", "debug", "tasks", "checkpoints", "custom", "messages-tuple")
    for mode in (*modes, "events"):
        rec(f"stream_{mode}", "runs.stream", tid, "accumulate", **one, stream_mode=mode)
    subgraphs = {"stream_mode": both, "stream_subgraphs": True}
    rec("stream_subgraphs", "runs.stream", tid, "accumulate", **one, **subgraphs)
    pause = {"interrupt_before": ["summarize"]}
    rec("stream_interrupt", "runs.stream", tid, "accumulate", **one, **pause)
    rec("stream_resume", "runs.stream", tid, "accumulate", input=None, stream_mode="updates")
    review = {"input": {"topic": "t"}, "stream_mode": both}
    rec("stream_review", "runs.stream", None, "review", **review)


def runs_on_thread(rec: Recorder, tag: str) -> None:
    t = rec("create", "threads.create", metadata={"sweep": tag})
    tid = t["thread_id"]
    r = rec(
        "create_run",
        "runs.create",
        tid,
        "accumulate",
        input={"numbers": [5]},
        metadata={"m": 1},
        config={"tags": ["a"], "configurable": {"c": 1}},
        multitask_strategy="enqueue",
    )
    rid = r["run_id"]
    rec("join", "runs.join", tid, rid)
    rec("get", "runs.get", tid, rid)
    rec("join_again", "runs.join", tid, rid)
    rec("join_stream_done", "runs.join_stream", tid, rid)
    rec("list", "runs.list", tid)
    rec("list_paged", "runs.list", tid, limit=1, offset=0, status="success")
    rec("list_select", "runs.list", tid, select=["run_id", "status"])
    rec("list_status_none", "runs.list", tid, status="pending")
    rec(
        "create_interrupt_after",
        "runs.wait",
        tid,
        "accumulate",
        input={"numbers": [6]},
        interrupt_after=["validate"],
    )
    rec("state_interrupted", "threads.get_state", tid)
    rec("thread_interrupted", "threads.get", tid)
    rec("resume_none", "runs.wait", tid, "accumulate", input=None)
    rec(
        "goto",
        "runs.wait",
        tid,
        "accumulate",
        command={"goto": "summarize", "update": {"numbers": [1]}},
    )
    rec(
        "checkpoint_fork",
        "runs.wait",
        tid,
        "accumulate",
        input={"numbers": [0]},
        checkpoint_id=rec.raw["state_interrupted"]["checkpoint"]["checkpoint_id"],
    )
    rec("context", "runs.wait", tid, "review", input={"topic": "x"}, context={"reviewer": "ann"})
    rec("resume_with_command", "runs.wait", tid, "review", command={"resume": "no"})
    rec("delete", "runs.delete", tid, rid)
    rec("get_deleted", "runs.get", tid, rid)
    rec("join_missing", "runs.join", tid, rid)
    rec(
        "missing_thread",
        "runs.create",
        "00000000-0000-0000-0000-000000000000",
        "accumulate",
        input={},
    )
    rec(
        "if_not_exists",
        "runs.wait",
        "11111111-2222-4333-8444-" + _tag_hex(tag),
        "accumulate",
        input={"numbers": [1]},
        if_not_exists="create",
    )
    rec("bad_input", "runs.wait", tid, "accumulate", input={"numbers": ["z"]})
    rec("thread_error", "threads.get", tid)
    rec("list_error", "runs.list", tid, status="error")


def runs_statuses(rec: Recorder, tag: str) -> None:
    """A running run, a pending one queued behind it, cancels of each kind, and what get /
    join / list / threads.get answer at each step."""
    t = rec("create", "threads.create", metadata={"sweep": tag})
    tid = t["thread_id"]
    first = rec.running("run_running", tid)
    sleep = {"input": {"seconds": 30}, "multitask_strategy": "enqueue"}
    second = rec("run_pending", "runs.create", tid, "sleeper", **sleep)
    rec("get_running", "runs.get", tid, first["run_id"])
    rec("get_pending", "runs.get", tid, second["run_id"])
    rec("thread_busy", "threads.get", tid)
    rec("list_running", "runs.list", tid, status="running")
    rec("list_pending", "runs.list", tid, status="pending")
    rec("reject", "runs.create", tid, "sleeper", input={"seconds": 1}, multitask_strategy="reject")
    rec("cancel_pending", "runs.cancel", tid, second["run_id"])
    rec("get_cancelled_pending", "runs.get", tid, second["run_id"])
    rec("cancel_running", "runs.cancel", tid, first["run_id"], wait=True)
    rec("get_cancelled", "runs.get", tid, first["run_id"])
    rec("join_cancelled", "runs.join", tid, first["run_id"])
    rec("cancel_done", "runs.cancel", tid, first["run_id"])
    rec("thread_after_cancel", "threads.get", tid)
    third = rec.running("run_rollback", tid)
    rec("cancel_rollback", "runs.cancel", tid, third["run_id"], action="rollback", wait=True)
    rec("get_rolled_back", "runs.get", tid, third["run_id"])
    fourth = rec.running("run_interrupt_strategy", tid)
    at_once = {"input": {"seconds": 0}, "multitask_strategy": "interrupt"}
    fifth = rec("run_interrupting", "runs.create", tid, "sleeper", **at_once)
    rec("join_interrupting", "runs.join", tid, fifth["run_id"])
    rec("get_interrupted_by_strategy", "runs.get", tid, fourth["run_id"])
    sixth = rec.running("run_for_cancel_many", tid)
    rec("cancel_many", "runs.cancel_many", thread_id=tid, run_ids=[sixth["run_id"]])
    rec("join_cancel_many", "runs.join", tid, sixth["run_id"])
    seventh = rec.running("run_for_delete", tid)
    rec("delete_running", "runs.delete", tid, seventh["run_id"])
    rec("cancel_after_delete", "runs.cancel", tid, seventh["run_id"], wait=True)
    rec("list_all", "runs.list", tid)
    rec("cancel_missing", "runs.cancel", tid, "00000000-0000-0000-0000-000000000000")


def runs_interrupt_statuses(rec: Recorder, tag: str) -> None:
    """A run stopped at an interrupt (``review``) and an errored one: every read route."""
    t = rec("create", "threads.create", metadata={"sweep": tag})
    tid = t["thread_id"]
    r = rec("create_run", "runs.create", tid, "review", input={"topic": "dogs"})
    rec("join", "runs.join", tid, r["run_id"])
    rec("get", "runs.get", tid, r["run_id"])
    rec("join_stream", "runs.join_stream", tid, r["run_id"])
    rec("list", "runs.list", tid)
    rec("thread", "threads.get", tid)
    rec(
        "resume_stream",
        "runs.stream",
        tid,
        "review",
        command={"resume": "approve"},
        stream_mode="updates",
    )
    e = rec("create_error", "runs.create", tid, "accumulate", input={"numbers": ["bad"]})
    rec("join_error", "runs.join", tid, e["run_id"])
    rec("get_error", "runs.get", tid, e["run_id"])
    rec("join_stream_error", "runs.join_stream", tid, e["run_id"])
    rec("thread_error", "threads.get", tid)
    rec("wait_on_error_thread", "runs.wait", tid, "accumulate", input={"numbers": [1]})


def _tag_hex(tag: str) -> str:
    """12 hex digits from ``tag`` (a thread id of the case's own)."""
    import hashlib

    return hashlib.sha256(tag.encode()).hexdigest()[:12]
