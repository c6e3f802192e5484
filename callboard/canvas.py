"""Signatures and Celery's canvas: ``chain``, ``group``, ``chord``.

A canvas is sent whole to the API (``POST /tasks/canvas``) and created in one transaction: a
group's runs at once; a chain's first step at once and each later step as a *deferred run*
recorded in Postgres, created by the transaction that records the success of the step before
it (its result first in the step's args, as Celery); a chord's members at once and its callback
as a deferred run created by the transaction that records the success of the last member (the
members' results, in order, as its first argument). See ``app/store/canvas.py``.

Supported shapes: a signature, a chain of signatures, a group of signatures, a chord of a group
of signatures and a signature (nesting a group or chord inside a chain is refused).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from callboard.result import AsyncResult, GroupResult

if TYPE_CHECKING:
    from callboard.app import Callboard

OPTION_NAMES = frozenset({"countdown", "eta", "queue", "idempotency_key"})


@dataclass
class Signature:
    """A task call to make later: ``task.s(*args, **kwargs)`` (Celery's ``signature``)."""

    app: Callboard
    task: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    def set(self, **options: Any) -> Signature:
        """Options for this call (``countdown``, ``eta``, ``queue``)."""
        unknown = set(options) - OPTION_NAMES
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
        self.options.update(options)
        return self

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.apply_async(args, kwargs)

    def apply_async(
        self, args: tuple | list = (), kwargs: dict | None = None, **options: Any
    ) -> AsyncResult:
        """Create the run → ``AsyncResult`` (``args`` are put before the signature's, as
        Celery's partial signatures; ``options`` as ``Task.apply_async``'s)."""
        sig = Signature(
            self.app,
            self.task,
            tuple(args) + tuple(self.args),
            {**self.kwargs, **(kwargs or {})},
            {**self.options, **{k: v for k, v in options.items() if v is not None}},
        )
        key = sig.options.get("idempotency_key")
        run = self.app.request(
            "POST",
            "/runs",
            json=sig.run_request(),
            headers={"Idempotency-Key": key} if key else None,
        )
        return AsyncResult(run["run_id"], self.app, run["thread_id"], self.task)

    def run_request(self) -> dict[str, Any]:
        """The ``POST /runs`` body of this call."""
        body: dict[str, Any] = {
            "assistant_id": self.task,
            "input": {"args": list(self.args), "kwargs": dict(self.kwargs)},
            "on_completion": "keep",
        }
        delay = countdown_of(self.options)
        if delay:
            body["after_seconds"] = delay
        if self.options.get("queue"):
            body["config"] = {"configurable": {"queue": self.options["queue"]}}
        return body

    def __or__(self, other: Any) -> chain:
        return chain(self, other)


def countdown_of(options: dict[str, Any]) -> float:
    """Seconds before the start from ``countdown`` (seconds) or ``eta`` (an aware datetime)."""
    if options.get("eta") is not None:
        eta = options["eta"]
        if eta.tzinfo is None:
            raise ValueError("eta must be an aware datetime (with a timezone)")
        return max((eta - datetime.datetime.now(datetime.UTC)).total_seconds(), 0.0)
    return max(float(options.get("countdown") or 0), 0.0)


class _Canvas:
    app: Callboard

    def spec(self) -> dict[str, Any]:
        raise NotImplementedError

    def result(self, created: list[dict[str, Any]]) -> Any:
        raise NotImplementedError

    def apply_async(self) -> Any:
        """Create the canvas's runs in one transaction (``POST /tasks/canvas``)."""
        created = self.app.request("POST", "/tasks/canvas", json=self.spec())
        return self.result(created["runs"])

    def delay(self) -> Any:
        return self.apply_async()

    def __call__(self) -> Any:
        return self.apply_async()


def _sig(sig: Any) -> dict[str, Any]:
    if not isinstance(sig, Signature):
        raise TypeError(f"expected a task signature (task.s(...)), got {type(sig).__name__}")
    body = sig.run_request()
    return {
        "task": sig.task,
        "input": body["input"],
        "config": body.get("config"),
        "after_seconds": body.get("after_seconds", 0.0),
    }


def _result(sig: Signature, created: dict[str, Any], parents: list | None = None) -> AsyncResult:
    return AsyncResult(created["run_id"], sig.app, created.get("thread_id"), sig.task, parents)


class chain(_Canvas):  # noqa: N801 - Celery's name
    """Run each signature after the one before succeeds, its result first in the next's args;
    the result is the last step's (``get`` waits for each step in turn)."""

    def __init__(self, *steps: Signature) -> None:
        if not steps:
            raise ValueError("a chain needs at least one signature")
        flat: list[Signature] = []
        for step in steps:
            flat.extend(step.steps if isinstance(step, chain) else [step])
        self.steps = flat
        self.app = flat[0].app

    def spec(self) -> dict[str, Any]:
        return {"chain": [_sig(s) for s in self.steps]}

    def result(self, created: list[dict[str, Any]]) -> AsyncResult:
        parents: list[Any] = []
        result = None
        for sig, run in zip(self.steps, created, strict=True):
            result = _result(sig, run, list(parents))
            parents.append(result)
        assert result is not None
        return result

    def __or__(self, other: Any) -> chain:
        return chain(*self.steps, other)


class group(_Canvas):  # noqa: N801 - Celery's name
    """Run the signatures at once; the result is a ``GroupResult`` in their order."""

    def __init__(self, *tasks: Signature) -> None:
        if len(tasks) == 1 and not isinstance(tasks[0], Signature):
            tasks = tuple(tasks[0])  # group([...]) as well as group(a, b)
        if not tasks:
            raise ValueError("a group needs at least one signature")
        self.tasks = list(tasks)
        self.app = self.tasks[0].app

    def spec(self) -> dict[str, Any]:
        return {"group": [_sig(s) for s in self.tasks]}

    def result(self, created: list[dict[str, Any]]) -> GroupResult:
        return GroupResult([_result(s, r) for s, r in zip(self.tasks, created, strict=True)])


class chord(_Canvas):  # noqa: N801 - Celery's name
    """``chord(header, body)`` or ``chord(header)(body)``: run the header group, then ``body``
    once, with the list of the header's results first in its args. The result is the body's."""

    def __init__(self, header: Any, body: Signature | None = None) -> None:
        self.header = header if isinstance(header, group) else group(*header)
        self.body = body
        self.app = self.header.app

    def __call__(self, body: Signature | None = None) -> AsyncResult:  # type: ignore[override]
        if body is not None:
            self.body = body
        return self.apply_async()

    def spec(self) -> dict[str, Any]:
        if self.body is None:
            raise ValueError("a chord needs a body (its callback)")
        return {"chord": {"header": self.header.spec()["group"], "body": _sig(self.body)}}

    def result(self, created: list[dict[str, Any]]) -> AsyncResult:
        assert self.body is not None
        members = self.header.result(created[:-1])
        return _result(self.body, created[-1], [members])


def as_canvas(signature: Any) -> dict[str, Any]:
    """The canvas spec (``POST /tasks/canvas`` body) of a signature or canvas, and the function
    that makes its result from the created runs."""
    if isinstance(signature, Signature):
        return {"spec": {"chain": [_sig(signature)]}, "result": chain(signature).result}
    if isinstance(signature, _Canvas):
        return {"spec": signature.spec(), "result": signature.result}
    raise TypeError(f"expected a signature or canvas, got {type(signature).__name__}")
