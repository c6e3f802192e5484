"""The wake-up message: ids only, our retry policy, and what a send failure means."""

from __future__ import annotations

import uuid

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from app.queue import EXECUTE_RUN, declare_execute_run, send_execute_run


@pytest.fixture
def stub():
    broker = StubBroker()
    broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    yield broker
    broker.close()


def test_the_message_carries_the_run_id_and_version_only(stub):
    actor = declare_execute_run(stub, queue_name="callboard")
    run_id = uuid.uuid4()
    assert send_execute_run(actor, run_id, 7) is True
    [message] = stub.queues["callboard"].queue
    decoded = dramatiq.Message.decode(message)
    assert decoded.actor_name == EXECUTE_RUN
    assert decoded.args == (str(run_id), 7)
    assert decoded.kwargs == {}


def test_the_actor_never_retries_and_has_an_explicit_time_limit(stub):
    actor = declare_execute_run(stub, queue_name="callboard")
    assert actor.options["max_retries"] == 0
    assert actor.options["time_limit"] >= 3600 * 1000


def test_the_worker_executes_the_body_it_was_given(stub):
    seen = []
    actor = declare_execute_run(stub, lambda run_id, version: seen.append((run_id, version)))
    worker = dramatiq.Worker(stub, worker_threads=1)
    worker.start()
    try:
        actor.send("r1", 1)
        stub.join(actor.queue_name)
        worker.join()
    finally:
        worker.stop()
    assert seen == [("r1", 1)]


def test_a_send_that_fails_is_reported_not_raised(stub):
    actor = declare_execute_run(stub, queue_name="callboard")

    def refuse(*args, **kwargs):
        raise dramatiq.errors.ConnectionClosed(OSError("redis is down"))

    stub.enqueue = refuse
    assert send_execute_run(actor, uuid.uuid4(), 1) is False
