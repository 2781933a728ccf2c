"""An OTP-style supervisor: starts children in order, restarts them, escalates crash loops."""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable
from functools import partial
from typing import NamedTuple

import trio

from hubactors._timing import Backoff
from hubactors.actors._child import (
    Child,
    ChildInfo,
    ChildSpec,
    RestartStrategy,
    RestartType,
    Run,
    describe_error,
    next_start,
    prune,
    restart_group,
)
from hubactors.actors._errors import ActorStoppedError, SupervisorEscalation
from hubactors.actors._events import (
    ChildRestarting,
    EventBus,
    SupervisorEscalated,
    SupervisorStopped,
)
from hubactors.actors._reply import Reply
from hubactors.actors._runner import run_child, stop_run


class _StartChild(NamedTuple):
    spec: ChildSpec
    reply: Reply[object]


class _TerminateChild(NamedTuple):
    id: str
    reply: Reply[None]


class _Shutdown:
    pass


# A finished Run is posted to the inbox by its own task as the notice that the child exited.
_Message = Run | _StartChild | _TerminateChild | _Shutdown
_STOP = _Shutdown()


class Supervisor:
    """Runs children, restarts them by ``strategy`` and restart type, escalates crash loops.

    More than ``intensity`` restarts within ``period`` seconds stop every child (reverse
    start order) and make :meth:`run` raise :class:`SupervisorEscalation`. Restarts wait
    ``backoff.delay(n)``, ``n`` counting the child's restarts within ``period``; meanwhile
    the supervisor keeps serving exits and commands. With ``auto_shutdown`` (the default)
    ``run`` returns once no child is left to run; pass ``auto_shutdown=False`` for a
    supervisor of dynamic children that must wait for :meth:`start_child`. ``run`` may be
    called again after it ended (that is how a parent restarts a nested supervisor); each
    run starts afresh from ``children``.
    """

    def __init__(
        self,
        name: str,
        children: Iterable[ChildSpec],
        *,
        strategy: RestartStrategy = RestartStrategy.ONE_FOR_ONE,
        intensity: int = 3,
        period: float = 5.0,
        backoff: Backoff | None = None,
        events: EventBus | None = None,
        rng: random.Random | None = None,
        auto_shutdown: bool = True,
    ) -> None:
        self._specs = tuple(children)
        ids = [spec.id for spec in self._specs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"supervisor {name!r}: duplicate child ids in {ids}")
        if intensity < 0 or period <= 0:
            raise ValueError(f"supervisor {name!r}: need intensity >= 0 and period > 0")
        self.name = name
        self.strategy = RestartStrategy(strategy)
        self.intensity = intensity
        self.period = period
        self.backoff = backoff if backoff is not None else Backoff(initial=0.01, maximum=1.0)
        self.events = events if events is not None else EventBus()
        self.auto_shutdown = auto_shutdown
        self._rng = rng
        self._active = False
        self._stop_requested = False
        self._nursery: trio.Nursery | None = None
        self._children: list[Child] = []
        self._restarts: deque[float] = deque()
        self._stopped = trio.Event()
        self._inbox_send, self._inbox = trio.open_memory_channel[_Message](math.inf)

    def __repr__(self) -> str:
        return f"<Supervisor {self.name!r} {self.strategy} running={self._active}>"

    # -- public API ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the children in order, report started once all are up, then supervise.

        Returns after :meth:`shutdown` / :meth:`stop`, or (with ``auto_shutdown``) once no
        child is left to run. Raises :class:`SupervisorEscalation` after stopping every child
        when restarts exceed the intensity. Cancelling the calling task cancels every child
        at once. Raises ``RuntimeError`` if this supervisor is already running.
        """
        if self._active:
            raise RuntimeError(f"supervisor {self.name!r} is already running")
        self._begin()
        escalation: SupervisorEscalation | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                escalation = await self._loop(task_status)
                # Every child was stopped or has exited; nothing should be left to cancel.
                nursery.cancel_scope.cancel()
        finally:
            self._end()
        if escalation is not None:
            raise escalation from escalation.__cause__

    def stop(self) -> None:
        """Ask a running supervisor to shut down gracefully; returns at once (see shutdown)."""
        if not self._active or self._stop_requested:
            return
        self._stop_requested = True
        self._post(_Shutdown())

    async def shutdown(self) -> None:
        """Stop every child gracefully in reverse start order and wait until ``run`` ends.

        Each child gets ``stop()`` (if its spec has one) and up to ``shutdown`` seconds,
        then is cancelled. Does nothing if the supervisor is not running.
        """
        if not self._active:
            return
        stopped = self._stopped
        self.stop()
        await stopped.wait()

    async def start_child(self, spec: ChildSpec) -> object:
        """Add and start a child; returns the value it passed to ``task_status.started()``.

        Raises the child's own exception (and keeps no trace of it) if it fails before
        reporting started, ``ValueError`` for a duplicate id, :class:`ActorStoppedError`
        if the supervisor is not running. If the caller is cancelled meanwhile, a child
        that did start is terminated again.
        """
        reply: Reply[object] = Reply()
        self._command(_StartChild(spec, reply))
        return await _wait(reply)

    async def terminate_child(self, child_id: str) -> None:
        """Stop a child gracefully (as in shutdown) and forget it; no sibling is restarted.

        Raises ``LookupError`` for an unknown id, :class:`ActorStoppedError` if the
        supervisor is not running.
        """
        reply: Reply[None] = Reply()
        self._command(_TerminateChild(child_id, reply))
        await _wait(reply)

    def which_children(self) -> list[ChildInfo]:
        """``(id, running, restarts)`` per child, in spec order (dynamic children last)."""
        return [ChildInfo(c.id, c.running, c.restarts) for c in self._children]

    def child_spec(
        self,
        *,
        id: str | None = None,
        restart: RestartType = RestartType.PERMANENT,
        shutdown: float = 5.0,
    ) -> ChildSpec:
        """A spec that runs this supervisor under a parent, stopping it gracefully."""
        return ChildSpec(
            id=id or self.name, start=self.run, restart=restart, shutdown=shutdown, stop=self.stop
        )

    # -- the control loop ------------------------------------------------------------------

    def _begin(self) -> None:
        self._active = True
        self._stop_requested = False
        self._stopped = trio.Event()
        self._inbox_send, self._inbox = trio.open_memory_channel[_Message](math.inf)
        self._children = [Child(spec) for spec in self._specs]
        self._restarts = deque()

    def _end(self) -> None:
        # Synchronous: it also runs while a cancellation propagates.
        self._active = False
        self._nursery = None
        self._inbox_send.close()
        while True:
            try:
                msg = self._inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            if isinstance(msg, _StartChild | _TerminateChild):
                msg.reply.set_exception(self._not_running())
        self._inbox.close()
        for child in self._children:
            child.due = None
        self.events.publish(SupervisorStopped(supervisor=self.name))
        self._stopped.set()

    async def _loop(self, task_status: trio.TaskStatus[None]) -> SupervisorEscalation | None:
        ready = False
        while True:
            await self._start_due()
            if not ready and all(c.running or not c.live for c in self._children):
                task_status.started()
                ready = True
            if self.auto_shutdown and not any(c.live for c in self._children):
                break
            msg = await self._next_message()
            if msg is None:
                continue
            outcome = await self._handle(msg)
            if outcome is _STOP:
                break
            if isinstance(outcome, SupervisorEscalation):
                return outcome
        if not ready:
            task_status.started()
        return None

    async def _next_message(self) -> _Message | None:
        """The next exit notice or command, or None when a restart falls due first."""
        _, wake = next_start(self._children, self.strategy, trio.current_time())
        with trio.move_on_at(wake):
            return await self._inbox.receive()
        return None

    async def _handle(self, msg: _Message) -> SupervisorEscalation | _Shutdown | None:
        if isinstance(msg, Run):
            return await self._on_exit(msg)
        if isinstance(msg, _StartChild):
            await self._on_start_child(msg.spec, msg.reply)
        elif isinstance(msg, _TerminateChild):
            await self._on_terminate_child(msg.id, msg.reply)
        else:
            await self._stop_all()
            return _STOP
        return None

    # -- starting --------------------------------------------------------------------------

    async def _start_due(self) -> None:
        while not self._stop_requested:
            child, _ = next_start(self._children, self.strategy, trio.current_time())
            if child is None:
                return
            await self._start(child)

    async def _start(self, child: Child) -> Run:
        """Start one incarnation of ``child``; a failure to start arrives as an exit notice."""
        assert self._nursery is not None
        run = Run(child)
        child.run = run
        child.due = None
        await self._nursery.start(
            partial(run_child, run, supervisor=self.name, events=self.events, on_exit=self._post)
        )
        return run

    # -- exits and restarts ----------------------------------------------------------------

    async def _on_exit(self, run: Run) -> SupervisorEscalation | None:
        child = run.child
        if child.run is not run or run.stopping:
            return None  # stopped on purpose, or superseded by a newer incarnation
        child.run = None
        if self._stop_requested:
            return None  # shutting down: the stop will find nothing to restart
        kind = child.spec.restart
        if kind is RestartType.TEMPORARY or (kind is RestartType.TRANSIENT and run.error is None):
            if kind is RestartType.TEMPORARY:
                self._children.remove(child)
            return None
        now = trio.current_time()
        self._restarts.append(now)
        prune(self._restarts, now, self.period)
        if len(self._restarts) > self.intensity:
            return await self._escalate(child, run.error)
        await self._schedule_restart(child, now)
        return None

    async def _schedule_restart(self, child: Child, now: float) -> None:
        group = restart_group(self._children, self.strategy, child)
        await self._stop_children([c for c in group if c is not child])
        attempt = child.recent_restarts(now, self.period) + 1
        delay = self.backoff.delay(attempt, self._rng)
        due = trio.current_time() + delay
        for member in group:
            if member is not child and member.spec.restart is RestartType.TEMPORARY:
                self._children.remove(member)  # temporary children never restart
                continue
            if member.due is not None:
                member.due = max(member.due, due)  # already waiting; keep start order
                continue
            member.due = due
            member.restarts += 1
            member.restart_times.append(now)
            self.events.publish(
                ChildRestarting(
                    supervisor=self.name,
                    child=member.id,
                    restart_count=member.restarts,
                    delay=delay,
                )
            )

    async def _escalate(self, child: Child, error: Exception | None) -> SupervisorEscalation:
        restarts = len(self._restarts)
        error_type, message = describe_error(error)
        self.events.publish(
            SupervisorEscalated(
                supervisor=self.name,
                child=child.id,
                restarts=restarts,
                period=self.period,
                error=f"{error_type}: {message}" if error_type else None,
            )
        )
        await self._stop_all()
        escalation = SupervisorEscalation(
            self.name, child.id, restarts, intensity=self.intensity, period=self.period
        )
        escalation.__cause__ = error
        return escalation

    # -- stopping --------------------------------------------------------------------------

    async def _stop_all(self) -> None:
        await self._stop_children(self._children)
        for child in self._children:
            child.due = None

    async def _stop_children(self, children: Iterable[Child]) -> None:
        """Stop the running ones among ``children``, last started first."""
        running = [c for c in children if c.run is not None]
        for child in sorted(running, key=lambda c: c.run.seq if c.run else 0, reverse=True):
            await self._stop_child(child)

    async def _stop_child(self, child: Child) -> None:
        if child.run is not None:
            await stop_run(child.run)
            child.run = None

    # -- commands --------------------------------------------------------------------------

    async def _on_start_child(self, spec: ChildSpec, reply: Reply[object]) -> None:
        if reply.abandoned:
            return
        if any(c.id == spec.id for c in self._children):
            reply.set_exception(ValueError(f"supervisor {self.name!r} already has {spec.id!r}"))
            return
        child = Child(spec)
        self._children.append(child)
        run = await self._start(child)
        if not run.ready:
            self._forget(child)
            reply.set_exception(run.error or RuntimeError(f"child {spec.id!r} did not start"))
        elif not reply.set_result(run.value):
            # The caller gave up while the child was starting: nobody knows it exists.
            await self._stop_child(child)
            self._forget(child)

    async def _on_terminate_child(self, child_id: str, reply: Reply[None]) -> None:
        child = next((c for c in self._children if c.id == child_id), None)
        if child is None:
            reply.set_exception(LookupError(f"supervisor {self.name!r} has no child {child_id!r}"))
            return
        await self._stop_child(child)
        self._forget(child)
        reply.set_result(None)

    def _forget(self, child: Child) -> None:
        # Clearing run makes the loop ignore this incarnation's exit notice.
        child.run = None
        child.due = None
        self._children.remove(child)

    def _command(self, msg: _StartChild | _TerminateChild) -> None:
        if not self._active:
            raise self._not_running()
        self._post(msg)

    def _post(self, msg: _Message) -> None:
        try:
            self._inbox_send.send_nowait(msg)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            if isinstance(msg, _StartChild | _TerminateChild):
                msg.reply.set_exception(self._not_running())

    def _not_running(self) -> ActorStoppedError:
        return ActorStoppedError(self.name, f"supervisor {self.name!r} is not running")


async def _wait(reply: Reply[object] | Reply[None]) -> object:
    try:
        return await reply.wait()
    except BaseException:
        reply.abandon()
        raise
