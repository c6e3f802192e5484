"""Human-in-the-loop test graphs (``tests/acceptance/test_hitl.py``,
``tests/integration/test_threads_state.py``).

``review``: ``draft`` → ``review`` → ``publish``. ``review`` stops at ``interrupt()`` with
    ``{"question": "publish?", "draft": ...}`` and takes the resume value as the ``verdict``;
    ``publish`` publishes when the verdict is ``"approve"``. Input ``{"topic": str}``; state
    ``{"topic", "draft", "verdict", "published", "log": [node names, in order]}``. Its context
    (``ReviewContext``: ``reviewer``) is copied into the draft, so its schemas have a context.
``review_team``: a parent graph whose only node ``team`` is the ``review`` graph as a subgraph
    (its interrupt stops the parent; ``get_subgraphs`` and ``get_state(subgraphs=True)`` see
    it). Same state.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from typing_extensions import TypedDict  # pydantic describes it on Python < 3.12 (schemas)


class ReviewState(TypedDict, total=False):
    topic: str
    draft: str
    verdict: str
    published: bool
    log: Annotated[list[str], operator.add]


@dataclass
class ReviewContext:
    reviewer: str = "anyone"


def draft(state: ReviewState, runtime: Runtime[ReviewContext]) -> dict[str, Any]:
    reviewer = runtime.context.reviewer if runtime.context else "anyone"
    return {"draft": f"a post about {state.get('topic', '?')} for {reviewer}", "log": ["draft"]}


def review(state: ReviewState) -> dict[str, Any]:
    verdict = interrupt({"question": "publish?", "draft": state.get("draft")})
    return {"verdict": verdict, "log": ["review"]}


def publish(state: ReviewState) -> dict[str, Any]:
    return {"published": state.get("verdict") == "approve", "log": ["publish"]}


_review = StateGraph(ReviewState, context_schema=ReviewContext)
_review.add_node("draft", draft)
_review.add_node("review", review)
_review.add_node("publish", publish)
_review.add_edge(START, "draft")
_review.add_edge("draft", "review")
_review.add_edge("review", "publish")
_review.add_edge("publish", END)
review_graph = _review.compile(name="review")

_team = StateGraph(ReviewState)
_team.add_node("team", review_graph)
_team.add_edge(START, "team")
_team.add_edge("team", END)
review_team = _team.compile(name="review_team")
