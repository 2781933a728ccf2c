"""Running one incarnation of a child in its own cancel scope, and stopping it gracefully."""

from __future__ import annotations

from collections.abc import Callable

import trio

from hubactors._logging import logger
from hubactors.actors._child import Run, describe_error
from hubactors.actors._events import ChildExited, ChildStarted, EventBus, ExitReason


class _ReadyStatus:
    """The ``task_status`` a child sees: records readiness before passing it on."""

    def __init__(
        self, run: Run, supervisor: str, events: EventBus, outer: trio.TaskStatus[None]
    ) -> None:
        self._run, self._supervisor, self._events, self._outer = run, supervisor, events, outer

    def started(self, value: object = None) -> None:
        if self._run.ready:
            raise RuntimeError("called 'started' twice on the same task status")
        self._run.ready = True
        self._run.value = value
        # Published from the child's own task, so it always precedes that child's exit event.
        self._events.publish(ChildStarted(supervisor=self._supervisor, child=self._run.child.id))
        self._outer.started()


async def run_child(
    run: Run,
    *,
    supervisor: str,
    events: EventBus,
    on_exit: Callable[[Run], None],
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``run``'s child until it ends; record how, publish ChildExited, call ``on_exit``.

    Meant for ``await nursery.start(...)``, which returns once the child reported started
    or ended without doing so (``run.ready`` tells which). An ``Exception`` from the child
    is recorded in ``run.error``, never raised; cancellation from outside the child's own
    scope and other ``BaseException``\\ s propagate.
    """
    clean = False
    try:
        # The try sits outside the child's scope so that an error group from which the
        # scope stripped its own Cancelled still counts as a crash.
        try:
            with run.scope:
                await run.child.spec.start(
                    task_status=_ReadyStatus(run, supervisor, events, task_status)
                )
        except Exception as exc:
            run.error = exc
        else:
            if not run.ready and not run.scope.cancelled_caught:
                run.error = RuntimeError(
                    f"child {run.child.id!r} returned without calling task_status.started()"
                )
        clean = True
    finally:
        # Synchronous: it also runs while a cancellation propagates.
        run.done.set()
        reason: ExitReason = "normal"
        if run.error is not None:
            reason = "crash"
        elif run.stopping or not clean or run.scope.cancelled_caught:
            reason = "shutdown"
        error_type, error = describe_error(run.error)
        events.publish(
            ChildExited(
                supervisor=supervisor,
                child=run.child.id,
                reason=reason,
                error_type=error_type,
                error=error,
            )
        )
        if not run.ready:
            task_status.started()  # unblock the starter; it reads run.ready
        on_exit(run)


async def stop_run(run: Run) -> None:
    """Stop a running incarnation: ``stop()`` and its grace period if the spec has one, then
    cancellation; returns once its task has ended. A failing ``stop()`` is logged and the
    child cancelled at once. Marks the run as stopped on purpose (exit reason ``shutdown``).
    """
    run.stopping = True
    if run.done.is_set():
        return
    spec = run.child.spec
    if spec.stop is not None:
        try:
            spec.stop()
        except Exception:
            logger.exception("stop() of child {!r} failed; cancelling it", spec.id)
        else:
            with trio.move_on_after(spec.shutdown):
                await run.done.wait()
    run.scope.cancel()
    await run.done.wait()
