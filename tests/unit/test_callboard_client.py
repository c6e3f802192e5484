"""The ``callboard`` client's pieces that need no server: options, backoff, rate limits,
signatures and canvas specs, error rebuilding, task modules."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

import callboard
from app.errors import ConfigurationError, InvalidInput
from app.tasks import module_name, prepare_run
from callboard.errors import Retry, TaskError, rebuild
from callboard.task import TaskOptions, parse_rate_limit
from workers.tasks import limiter_for


def test_default_name_is_the_dotted_name_and_options_are_checked() -> None:
    app = callboard.Callboard("http://127.0.0.1:1")

    @app.task
    def hello(name: str) -> str:
        return f"hello {name}"

    assert (
        hello.name
        == f"{__name__}.test_default_name_is_the_dotted_name_and_options_are_checked.<locals>.hello"
    )
    assert hello("you") == "hello you"  # calling the task runs the function here
    assert app.tasks[hello.name] is hello
    with pytest.raises(TypeError, match="bogus"):
        app.task(bogus=1)(lambda: None)
    with pytest.raises(ValueError, match="rate_limit"):
        app.task(name="x", rate_limit="ten per second")(lambda: None)
    with pytest.raises(ValueError, match="already registered"):
        app.task(name=hello.name)(lambda: None)


def test_rate_limit_format() -> None:
    assert parse_rate_limit("10/s") == (10.0, 1.0)
    assert parse_rate_limit("100/m") == (100.0, 60.0)
    assert parse_rate_limit(" 5 / h ") == (5.0, 3600.0)
    for bad in ("0/s", "10/d", "10", "/s"):
        with pytest.raises(ValueError):
            parse_rate_limit(bad)


class _FakeTask:
    def __init__(self, name: str, rate_limit: str) -> None:
        self.name = name
        self.options = TaskOptions(name=name, rate_limit=rate_limit)


@pytest.mark.parametrize(
    ("rate", "limit", "bucket"),
    [("10/s", 1, 100), ("1/s", 1, 1000), ("100/s", 10, 100), ("30/m", 1, 2000)],
)
def test_rate_limits_spread_starts_in_buckets_of_at_least_100_ms(
    rate: str, limit: int, bucket: int
) -> None:
    limiter = limiter_for(None, _FakeTask(f"t-{rate}", rate))  # type: ignore[arg-type]
    assert (limiter.limit, limiter.bucket) == (limit, bucket)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    fixed = TaskOptions(name="t", retry_backoff=2, retry_jitter=False, retry_backoff_max=10)
    assert [fixed.retry_delay(n) for n in range(4)] == [2, 4, 8, 10]
    assert TaskOptions(name="t").retry_delay(5) == 0  # no backoff: at once
    jittered = TaskOptions(name="t", retry_backoff=True)
    assert all(0 <= jittered.retry_delay(3) <= 8 for _ in range(50))


def test_signature_request_and_countdown() -> None:
    app = callboard.Callboard("http://127.0.0.1:1")
    sig = app.signature("mul", (2,), {"y": 3}).set(countdown=4, queue="q")
    body = sig.run_request()
    assert body["assistant_id"] == "mul"
    assert body["input"] == {"args": [2], "kwargs": {"y": 3}}
    assert body["after_seconds"] == 4
    assert body["config"] == {"configurable": {"queue": "q"}}
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)
    assert 28 < app.signature("m").set(eta=soon).run_request()["after_seconds"] <= 30
    with pytest.raises(ValueError, match="aware"):
        app.signature("m").set(eta=datetime.datetime.now()).run_request()


def test_canvas_specs() -> None:
    app = callboard.Callboard("http://127.0.0.1:1")
    a, b = app.signature("a", (1,)), app.signature("b")
    assert [s["task"] for s in (a | b | a).spec()["chain"]] == ["a", "b", "a"]
    assert len(callboard.group([a, b]).spec()["group"]) == 2
    spec = callboard.chord([a, a], b).spec()["chord"]
    assert len(spec["header"]) == 2 and spec["body"]["task"] == "b"
    with pytest.raises(TypeError):
        callboard.group(a, "not a signature").spec()  # type: ignore[arg-type]


def test_errors_are_rebuilt_by_type_where_possible() -> None:
    class Declined(Exception):
        pass

    assert isinstance(rebuild({"error": "KeyError", "message": "k"}), KeyError)
    assert isinstance(
        rebuild({"error": "Declined", "message": "no"}, {"Declined": Declined}), Declined
    )
    unknown = rebuild({"error": "Nope", "message": "m"})
    assert isinstance(unknown, TaskError) and unknown.type == "Nope"
    assert isinstance(rebuild({"error": "print", "message": "m"}), TaskError)  # not a type


def test_graph_function_turns_autoretry_errors_into_retry() -> None:
    app = callboard.Callboard("http://127.0.0.1:1")

    @app.task(name="t", autoretry_for=(ConnectionError,))
    def t(kind: str) -> str:
        if kind == "conn":
            raise ConnectionResetError("reset")
        if kind == "value":
            raise ValueError("v")
        return kind

    run = t.graph_function()
    assert run({"args": ["ok"]}) == "ok"
    with pytest.raises(Retry) as retry:
        run({"args": ["conn"]})
    assert retry.value.error == {"error": "ConnectionResetError", "message": "reset"}
    with pytest.raises(ValueError):
        run({"args": [], "kwargs": {"kind": "value"}})


def test_task_modules_and_run_preparation(tmp_path: Path) -> None:
    assert module_name("./pkg/tasks.py", tmp_path) == "pkg.tasks"
    assert module_name("pkg.tasks", tmp_path) == "pkg.tasks"
    with pytest.raises(ConfigurationError):
        module_name("../elsewhere.py", tmp_path)

    app = callboard.Callboard("http://127.0.0.1:1", result_expires=60)

    @app.task(name="q", queue="slow", time_limit=5)
    def q() -> None:
        return None

    fields = {"graph_id": "q", "kwargs": {"input": None, "config": {}}}
    prepare_run(app.tasks, fields["graph_id"], fields["kwargs"])
    assert fields["kwargs"]["input"] == {"args": [], "kwargs": {}}
    assert fields["kwargs"]["config"]["configurable"] == {
        "queue": "slow",
        "run_timeout_seconds": 5,
        "result_expires": 60,
    }
    given = {"graph_id": "q", "kwargs": {"input": {}, "config": {"configurable": {"queue": "x"}}}}
    prepare_run(app.tasks, given["graph_id"], given["kwargs"])
    assert given["kwargs"]["config"]["configurable"]["queue"] == "x"  # the call's wins
    for bad in ([1], {"args": 1}, {"other": 1}):
        with pytest.raises(InvalidInput):
            prepare_run(app.tasks, "q", {"input": bad})
