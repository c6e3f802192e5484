"""Sweep cases: assistants, threads, crons and the store, every method and parameter form of
``langgraph_sdk`` 0.4.14. Each case takes a ``Recorder`` and a ``tag`` unique to the case and
client kind (put in metadata so searches see only the case's own rows)."""

from __future__ import annotations

from tests.sdk_sweep.harness import Recorder


def assistants_crud(rec: Recorder, tag: str) -> None:
    meta = {"sweep": tag}
    a = rec(
        "create",
        "assistants.create",
        "accumulate",
        config={"configurable": {"k": 1}, "tags": ["t"], "recursion_limit": 7},
        metadata=meta,
        name="first",
        description="about it",
    )
    aid = a["assistant_id"]
    rec("get", "assistants.get", aid)
    rec("update", "assistants.update", aid, name="second", metadata={**meta, "v": 2})
    rec("update_config", "assistants.update", aid, config={"configurable": {"k": 2}})
    rec("update_context", "assistants.update", aid, context={"c": 1}, description="new")
    rec("versions", "assistants.get_versions", aid)
    rec("versions_limit", "assistants.get_versions", aid, limit=1, offset=1)
    rec("versions_meta", "assistants.get_versions", aid, metadata={"v": 2})
    rec("set_latest", "assistants.set_latest", aid, 1)
    rec("get_after_set_latest", "assistants.get", aid)
    rec("count", "assistants.count", metadata=meta)
    rec("count_graph", "assistants.count", metadata=meta, graph_id="accumulate")
    rec("count_name", "assistants.count", metadata=meta, name="first")
    rec("search", "assistants.search", metadata=meta)
    rec("search_name", "assistants.search", metadata=meta, name="fir")
    rec("search_select", "assistants.search", metadata=meta, select=["assistant_id", "name"])
    rec(
        "search_sorted",
        "assistants.search",
        metadata=meta,
        sort_by="created_at",
        sort_order="asc",
        limit=5,
        offset=0,
    )
    rec("search_object", "assistants.search", metadata=meta, response_format="object")
    rec("delete", "assistants.delete", aid)
    rec("get_deleted", "assistants.get", aid)
    rec("delete_again", "assistants.delete", aid)


def assistants_if_exists(rec: Recorder, tag: str) -> None:
    a = rec(
        "create", "assistants.create", "review", metadata={"sweep": tag}, context={"reviewer": "x"}
    )
    aid = a["assistant_id"]
    rec("do_nothing", "assistants.create", "review", assistant_id=aid, if_exists="do_nothing")
    rec("raise", "assistants.create", "review", assistant_id=aid, if_exists="raise")
    rec("unknown_graph", "assistants.create", "no_such_graph")
    rec("search_paged", "assistants.search", metadata={"sweep": tag}, limit=1, offset=1)
    rec("delete_with_threads", "assistants.delete", aid, delete_threads=True)


def assistants_graphs(rec: Recorder, tag: str) -> None:
    system = rec(
        "system", "assistants.search", graph_id="review", metadata={"created_by": "system"}
    )
    aid = system[0]["assistant_id"]
    rec("get_by_graph_id", "assistants.get", "review")
    rec("graph", "assistants.get_graph", aid)
    rec("graph_xray", "assistants.get_graph", aid, xray=True)
    rec("graph_xray_int", "assistants.get_graph", aid, xray=1)
    rec("schemas", "assistants.get_schemas", aid)
    rec("subgraphs", "assistants.get_subgraphs", aid)
    rec("subgraphs_recurse", "assistants.get_subgraphs", aid, recurse=True)
    rec("subgraphs_namespace", "assistants.get_subgraphs", aid, namespace="none")
    rec("graph_missing", "assistants.get_graph", "00000000-0000-0000-0000-000000000000")
    rec("schemas_accumulate", "assistants.get_schemas", "accumulate")
    rec("graph_sleeper", "assistants.get_graph", "sleeper")


def threads_crud(rec: Recorder, tag: str) -> None:
    meta = {"sweep": tag}
    t = rec("create", "threads.create", metadata=meta)
    tid = t["thread_id"]
    rec("create_graph", "threads.create", metadata={**meta, "n": 2}, graph_id="accumulate")
    rec(
        "create_ttl",
        "threads.create",
        metadata={**meta, "n": 3},
        ttl={"ttl": 60, "strategy": "delete"},
    )
    rec("create_ttl_int", "threads.create", metadata={**meta, "n": 4}, ttl=30)
    rec("create_existing_do_nothing", "threads.create", thread_id=tid, if_exists="do_nothing")
    rec("create_existing_raise", "threads.create", thread_id=tid, if_exists="raise")
    rec("get", "threads.get", tid)
    rec("update", "threads.update", tid, metadata={"extra": True})
    rec("update_ttl", "threads.update", tid, metadata={}, ttl=120)
    rec("update_minimal", "threads.update", tid, metadata={"m": 1}, return_minimal=True)
    rec("get_after_update", "threads.get", tid)
    rec("search", "threads.search", metadata=meta)
    rec(
        "search_status",
        "threads.search",
        metadata=meta,
        status="idle",
        sort_by="created_at",
        sort_order="asc",
    )
    rec("search_ids", "threads.search", ids=[tid])
    rec(
        "search_select",
        "threads.search",
        metadata=meta,
        select=["thread_id", "status"],
        limit=2,
        offset=1,
    )
    rec("count", "threads.count", metadata=meta)
    rec("count_status", "threads.count", metadata=meta, status="busy")
    copy = rec("copy", "threads.copy", tid)
    rec("get_copy", "threads.get", copy["thread_id"] if copy else tid)
    rec("delete", "threads.delete", tid)
    rec("get_deleted", "threads.get", tid)
    rec("delete_again", "threads.delete", tid)
    rec("get_missing_state", "threads.get_state", tid)


def threads_state(rec: Recorder, tag: str) -> None:
    t = rec("create", "threads.create", metadata={"sweep": tag})
    tid = t["thread_id"]
    rec("state_empty", "threads.get_state", tid)
    rec("history_empty", "threads.get_history", tid)
    rec("wait1", "runs.wait", tid, "accumulate", input={"numbers": [1, 2]})
    rec("wait2", "runs.wait", tid, "accumulate", input={"numbers": [3]}, metadata={"second": True})
    state = rec("state", "threads.get_state", tid)
    rec("state_subgraphs", "threads.get_state", tid, subgraphs=True)
    rec("thread", "threads.get", tid)
    rec("history", "threads.get_history", tid)
    rec("history_limit", "threads.get_history", tid, limit=2)
    rec("history_meta", "threads.get_history", tid, metadata={"source": "input"})
    rec("history_before", "threads.get_history", tid, before=state["checkpoint"], limit=1)
    parent = state["parent_checkpoint"]
    rec("state_at", "threads.get_state", tid, checkpoint_id=parent["checkpoint_id"])
    rec("state_at_checkpoint", "threads.get_state", tid, checkpoint=parent)
    rec("update_state", "threads.update_state", tid, {"numbers": [10]})
    rec("update_state_as_node", "threads.update_state", tid, {"total": 0}, as_node="summarize")
    rec("state_after_update", "threads.get_state", tid)
    rec(
        "update_state_at",
        "threads.update_state",
        tid,
        {"numbers": [100]},
        checkpoint_id=parent["checkpoint_id"],
    )
    rec("update_state_bad_node", "threads.update_state", tid, {"total": 1}, as_node="nope")
    copy = rec("copy", "threads.copy", tid)
    rec("copy_state", "threads.get_state", copy["thread_id"])
    rec("prune_keep_latest", "threads.prune", [tid], strategy="keep_latest")
    rec("history_after_prune", "threads.get_history", tid)
    rec("prune", "threads.prune", [copy["thread_id"]])
    rec("get_pruned", "threads.get", copy["thread_id"])


def threads_interrupted(rec: Recorder, tag: str) -> None:
    t = rec("create", "threads.create", metadata={"sweep": tag})
    tid = t["thread_id"]
    rec("wait", "runs.wait", tid, "review", input={"topic": "cats"})
    rec("thread", "threads.get", tid)
    rec("state", "threads.get_state", tid)
    rec("count_interrupted", "threads.count", metadata={"sweep": tag}, status="interrupted")
    rec("search_interrupted", "threads.search", metadata={"sweep": tag}, status="interrupted")
    rec("search_values", "threads.search", values={"topic": "cats"}, metadata={"sweep": tag})
    rec("resume", "runs.wait", tid, "review", command={"resume": "approve"})
    rec("thread_after", "threads.get", tid)
    rec("history", "threads.get_history", tid, limit=3)


def crons(rec: Recorder, tag: str) -> None:
    meta = {"sweep": tag}
    yearly = {"schedule": "0 0 1 1 *", "metadata": meta}
    c1 = rec("create", "crons.create", "accumulate", input={"numbers": [1]}, **yearly)
    t = rec("thread", "threads.create", metadata=meta)
    c2 = rec(
        "create_for_thread",
        "crons.create_for_thread",
        t["thread_id"],
        "accumulate",
        schedule="0 0 1 1 *",
        input={"numbers": [2]},
        metadata=meta,
        config={"tags": ["x"]},
        interrupt_before=["summarize"],
        multitask_strategy="enqueue",
    )
    rec(
        "create_full",
        "crons.create",
        "accumulate",
        schedule="*/5 * * * *",
        metadata=meta,
        enabled=False,
        timezone="Europe/Paris",
        on_run_completed="keep",
        stream_mode=["values"],
        context={"c": 1},
    )
    rec("search", "crons.search", metadata=meta)
    rec("search_thread", "crons.search", thread_id=t["thread_id"])
    rec("search_enabled", "crons.search", metadata=meta, enabled=False)
    rec(
        "search_select",
        "crons.search",
        metadata=meta,
        select=["cron_id", "schedule"],
        sort_by="created_at",
        sort_order="asc",
    )
    rec(
        "search_paged",
        "crons.search",
        metadata=meta,
        limit=1,
        offset=1,
        sort_by="created_at",
        sort_order="asc",
    )
    rec("count", "crons.count", metadata=meta)
    rec("count_thread", "crons.count", thread_id=t["thread_id"])
    if c1:
        rec(
            "update",
            "crons.update",
            c1["cron_id"],
            schedule="0 0 2 1 *",
            enabled=False,
            metadata={**meta, "u": 1},
        )
        rec("delete", "crons.delete", c1["cron_id"])
        rec("delete_again", "crons.delete", c1["cron_id"])
    if c2:
        rec("delete_thread_cron", "crons.delete", c2["cron_id"])
    rec("count_after", "crons.count", metadata=meta)
    rec("bad_schedule", "crons.create", "accumulate", schedule="not a schedule", metadata=meta)


def store(rec: Recorder, tag: str) -> None:
    ns = ["sweep", tag]
    rec("put", "store.put_item", ns, "a", {"n": 1, "kind": "x"})
    rec("put2", "store.put_item", [*ns, "deep"], "b", {"n": 2, "kind": "y"}, index=False)
    rec("put_ttl", "store.put_item", ns, "c", {"n": 3, "kind": "x"}, ttl=10)
    rec("get", "store.get_item", ns, "a")
    rec("get_refresh", "store.get_item", ns, "c", refresh_ttl=True)
    rec("get_missing", "store.get_item", ns, "zz")
    rec("search", "store.search_items", ns)
    rec("search_filter", "store.search_items", ns, filter={"kind": "x"})
    rec("search_page", "store.search_items", ns, limit=1, offset=1)
    rec("search_query", "store.search_items", ns, query="anything")
    rec("namespaces", "store.list_namespaces", prefix=ns)
    rec("namespaces_depth", "store.list_namespaces", prefix=ns, max_depth=2)
    rec("namespaces_suffix", "store.list_namespaces", prefix=ns, suffix=["deep"])
    rec("namespaces_page", "store.list_namespaces", prefix=ns, limit=1, offset=1)
    rec("delete", "store.delete_item", ns, "a")
    rec("get_deleted", "store.get_item", ns, "a")
