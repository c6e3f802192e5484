"""The run state machine: statuses, the allowed transitions as data, and who makes each one.

Every transition is a single conditional UPDATE in ``app/store/runs.sql`` (DESIGN.md, "The
run state machine"); this module is the map of them, used by the store to type its outcomes and by
the docs and tests to check that nothing else moves a run.

    create  ──►  pending ──claim──► running ──finish──► success | error | timeout | interrupted
                   ▲  │                │
                   │  └─cancel────► interrupted
                   └──── requeue ──────┘ (lease lost, shutdown, transient DB error)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class RunStatus(enum.StrEnum):
    """Status of a run (Agent Protocol names, as ``langgraph_sdk.schema.RunStatus``)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({RunStatus.SUCCESS, RunStatus.ERROR, RunStatus.TIMEOUT, RunStatus.INTERRUPTED})


class ThreadStatus(enum.StrEnum):
    """Status of a thread (``langgraph_sdk.schema.ThreadStatus``)."""

    IDLE = "idle"
    BUSY = "busy"
    INTERRUPTED = "interrupted"
    ERROR = "error"


# the thread's status after its run ends with the given status
THREAD_STATUS_AFTER = {
    RunStatus.SUCCESS: ThreadStatus.IDLE,
    RunStatus.ERROR: ThreadStatus.ERROR,
    RunStatus.TIMEOUT: ThreadStatus.ERROR,
    RunStatus.INTERRUPTED: ThreadStatus.INTERRUPTED,
}


@dataclass(frozen=True)
class Transition:
    """One edge of the state machine: the query that makes it and who may call it."""

    query: str
    source: frozenset[RunStatus]
    target: frozenset[RunStatus]
    actor: str
    predicate: str


TRANSITIONS: tuple[Transition, ...] = (
    Transition("insert_run", frozenset(), frozenset({RunStatus.PENDING}), "web", "INSERT"),
    Transition(
        "claim_run",
        frozenset({RunStatus.PENDING}),
        frozenset({RunStatus.RUNNING}),
        "worker",
        "status='pending' AND version=:v AND no earlier unfinished run on the thread",
    ),
    Transition(
        "finish_run",
        frozenset({RunStatus.RUNNING}),
        TERMINAL,
        "worker",
        "status='running' AND claim_token=:t",
    ),
    Transition(
        "requeue_run",
        frozenset({RunStatus.RUNNING}),
        frozenset({RunStatus.PENDING, RunStatus.ERROR}),
        "worker / sweeper",
        "status='running' AND claim_token=:t AND version=:v (error when attempts are used up)",
    ),
    # with action=rollback the pending runs are deleted instead (no target status), with the
    # checkpoints an earlier attempt of theirs wrote
    Transition(
        "end_pending_runs",
        frozenset({RunStatus.PENDING}),
        frozenset({RunStatus.INTERRUPTED}),
        "web",
        "status='pending' (cancel, bulk cancel, multitask_strategy interrupt or rollback)",
    ),
    # a rollback deletes the run (no target status) and the checkpoints it wrote
    Transition(
        "rollback_run",
        frozenset({RunStatus.RUNNING}),
        frozenset(),
        "worker / sweeper",
        "status='running' AND claim_token=:t (after a cancel with action=rollback; the sweeper: "
        "AND version=:v once the attempt lapsed)",
    ),
)
