"""``AsyncResult`` and ``GroupResult``: a task run's state and result, as Celery's.

States map the run's status (``app/runs.py``): pending → ``PENDING`` (``RETRY`` once a retry
was scheduled), running → ``STARTED``, success → ``SUCCESS``, error and timeout → ``FAILURE``,
interrupted → ``REVOKED``. ``get`` waits with the API's ``join`` route, which blocks on the
server until the run ends: no polling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from callboard import errors

if TYPE_CHECKING:
    from callboard.app import Callboard

STATES = {
    "pending": "PENDING",
    "running": "STARTED",
    "success": "SUCCESS",
    "error": "FAILURE",
    "timeout": "FAILURE",
    "interrupted": "REVOKED",
}
READY_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})


class AsyncResult:
    """The result of one task run.

    Parameters:
        id: the run's id. thread_id: its thread (looked up when not given).
        task_name: the task's name, when known (its module is searched for the error's type).
        parents: results that must end before this run exists (a chain's earlier steps, a
            chord's members): ``get`` waits for them first.
    """

    def __init__(
        self,
        id: str,  # noqa: A002 - Celery's name
        app: Callboard,
        thread_id: str | None = None,
        task_name: str | None = None,
        parents: list[AsyncResult | GroupResult] | None = None,
    ) -> None:
        self.id = str(id)
        self.app = app
        self.thread_id = thread_id
        self.task_name = task_name
        self.parents = parents or []

    def __repr__(self) -> str:
        return f"<AsyncResult: {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncResult) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def _run(self) -> dict[str, Any] | None:
        """The run (the API's JSON), or None while it does not exist (a canvas step to come)."""
        try:
            run = self.app.request("GET", f"/tasks/runs/{self.id}")
        except errors.APIError as exc:
            if exc.status == 404:
                return None
            raise
        self.thread_id = run["thread_id"]
        return run

    @property
    def state(self) -> str:
        """``PENDING`` | ``RETRY`` | ``STARTED`` | ``SUCCESS`` | ``FAILURE`` | ``REVOKED``
        (``PENDING`` too for a canvas step not created yet, or an unknown id, as Celery)."""
        run = self._run()
        if run is None:
            return "PENDING"
        if run["status"] == "pending" and run.get("retries"):
            return "RETRY"
        return STATES.get(run["status"], "PENDING")

    status = state

    def ready(self) -> bool:
        return self.state in READY_STATES

    def successful(self) -> bool:
        return self.state == "SUCCESS"

    def failed(self) -> bool:
        return self.state == "FAILURE"

    def get(self, timeout: float | None = None, propagate: bool = True) -> Any:
        """Wait for the task to end and return its result.

        Parameters:
            timeout: seconds to wait at most (None = as long as it takes).
            propagate: raise the task's error (else return it as an exception instance).

        Raises:
            callboard.TimeoutError: ``timeout`` passed. callboard.TaskRevokedError: revoked.
            The task's own error: by its type when the client can import it, else
            ``callboard.TaskError``.
        """
        for parent in self.parents:
            parent.get(timeout=timeout, propagate=True)
        try:
            thread_id = self.thread_id or self._thread_id()
            output = self.app.request(
                "GET", f"/threads/{thread_id}/runs/{self.id}/join", read_timeout=timeout
            )
        except httpx.TimeoutException:
            raise errors.TimeoutError(f"task {self.id} did not end within {timeout} s") from None
        error = output.get("__error__") if isinstance(output, dict) else None
        if output is None:  # a run cancelled before it started has no output
            run = self._run()
            if run is not None and run["status"] != "success":
                error = run.get("error") or {"error": "UserInterrupt", "message": "revoked"}
        if error is not None:
            exc = self._error(error)
            if propagate:
                raise exc
            return exc
        return output

    wait = get

    def _thread_id(self) -> str:
        run = self._run()
        if run is None:
            raise errors.APIError(404, f"Run {self.id} not found")
        return run["thread_id"]

    def _error(self, error: dict[str, Any]) -> BaseException:
        if error.get("error") == "UserInterrupt":
            return errors.TaskRevokedError(error.get("message") or "revoked")
        task = self.app.tasks.get(self.task_name or "")
        namespace = getattr(task.fn, "__globals__", None) if task is not None else None
        return errors.rebuild(error, namespace)

    def revoke(self, wait: bool = False) -> None:
        """Revoke the task: a pending run never starts; a running run is stopped (Celery's
        ``revoke(terminate=True)``). Either way it ends ``REVOKED``. ``wait``: return once it
        has ended."""
        thread_id = self.thread_id or self._thread_id()
        query = "?wait=true" if wait else ""
        self.app.request("POST", f"/threads/{thread_id}/runs/{self.id}/cancel{query}")

    def forget(self) -> None:
        """Delete the run and its result now (instead of at ``result_expires``)."""
        self.app.request("DELETE", f"/tasks/runs/{self.id}")


class GroupResult:
    """The results of a group, in the group's order (Celery's ``GroupResult``)."""

    def __init__(self, results: list[AsyncResult]) -> None:
        self.results = results

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def get(self, timeout: float | None = None, propagate: bool = True) -> list[Any]:
        """Every member's result, in order (each member's wait is bounded by ``timeout``)."""
        return [r.get(timeout=timeout, propagate=propagate) for r in self.results]

    join = get

    def ready(self) -> bool:
        return all(r.ready() for r in self.results)

    def successful(self) -> bool:
        return all(r.successful() for r in self.results)

    def completed_count(self) -> int:
        return sum(r.successful() for r in self.results)

    def revoke(self) -> None:
        for r in self.results:
            r.revoke()
