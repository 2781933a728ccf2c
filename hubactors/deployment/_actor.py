"""The provider actor: one per deployment, admitting requests from its mailbox.

The actor owns admission and learning, not the bytes: for each :class:`Admit` it takes a
slot under the deployment's concurrency cap (the mailbox waits while every slot is held),
checks the cooldown and the circuit breaker, reserves rate-limit capacity, and replies with
a :class:`~hubactors.deployment.Lease`. The caller's task then talks to the provider itself
and reports the outcome to the lease, which updates the deployment's state (one Trio
thread, so no locks).

Expected failures (HTTP errors, timeouts, 429s) are values reported through the lease. A
bug (or the simulated crash) crashes the actor: its supervisor restarts it, and every lease
it granted is revoked so that each in-flight caller gets a retryable
:class:`~hubactors.errors.DeploymentCrashedError` at once instead of hanging.

The limiter, breaker, health tracker and moving averages live in :class:`DeploymentState`,
which outlives restarts: a crash must not reset what the deployment's rate limits or health
look like.
"""

from __future__ import annotations

import trio

from hubactors.deployment._lease import Lease, revoke_all
from hubactors.deployment._state import Admit, DeploymentState
from hubactors.errors import DeploymentCrashedError, HubError
from hubactors.resilience import Reservation, run_health_loop


class _Crash:
    """The bug that must crash the actor, handed over from a caller's task."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.event = trio.Event()

    def set(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
            self.event.set()

    async def raise_when_set(self) -> None:
        await self.event.wait()
        assert self.error is not None
        raise self.error


class ProviderActor:
    """Runs one deployment: call :meth:`run` under a supervisor (it is restartable)."""

    def __init__(self, state: DeploymentState) -> None:
        self.state = state
        self._nursery: trio.Nursery | None = None
        self._publish_due: float | None = None
        self._slots = trio.CapacityLimiter(max(1, state.concurrency_limit))
        self._leases: dict[Lease, object] = {}
        self._crash = _Crash()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve the mailbox until cancelled; raises (crashes) only on a bug or simulated crash."""
        state = self.state
        self._slots = trio.CapacityLimiter(max(1, state.concurrency_limit))
        self._crash = _Crash()
        state.starts += 1
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._crash.raise_when_set)
                if state.config.health.interval > 0:
                    nursery.start_soon(self._health_loop)
                self._publish_when_half_open()
                state.up = True
                state.publish()
                task_status.started()
                async for admit in state.mailbox.receive:
                    await self._take_slot_and_admit(admit)
        finally:
            self._nursery = None
            self._publish_due = None
            leases, self._leases = self._leases, {}
            revoke_all(set(leases), self._stopped_error)
            state.up = False
            state.publish()

    async def _take_slot_and_admit(self, admit: Admit) -> None:
        if admit.reply.abandoned:
            return
        token = object()
        try:
            # The mailbox read was a checkpoint already: take a free slot without another
            # trip through the scheduler.
            self._slots.acquire_on_behalf_of_nowait(token)
        except trio.WouldBlock:
            try:
                await self._slots.acquire_on_behalf_of(token)
            except BaseException:
                admit.reply.set_exception(self._stopped_error())
                raise
            if admit.reply.abandoned:
                self._release_slot(token)
                return
        self._admit(admit, token)

    def _admit(self, admit: Admit, token: object) -> None:
        state = self.state
        now = trio.current_time()
        refusal = state.refusal(now)
        if refusal is not None:
            self._release_slot(token)
            admit.reply.set_exception(refusal)
            return
        state.in_flight += 1
        state.requests += 1
        got = state.limiter.try_acquire(admit.estimated_tokens, now)
        if isinstance(got, Reservation):
            self._grant(admit, got, token)
        else:
            state.publish()
            assert self._nursery is not None
            self._nursery.start_soon(self._admit_when_limits_allow, admit, token)

    async def _admit_when_limits_allow(self, admit: Admit, token: object) -> None:
        """Wait for the rate limiter, bound to the asker (who may give up meanwhile)."""
        state = self.state
        reservation: Reservation | None = None
        started = trio.current_time()
        try:
            with trio.CancelScope() as scope:
                admit.reply.bind(scope)
                reservation = await state.limiter.acquire(
                    admit.estimated_tokens, deadline=admit.deadline
                )
        except HubError as exc:  # the limit cannot admit it before its deadline
            self._refuse_admitted(token)
            admit.reply.set_exception(exc)
            return
        except BaseException:
            self._refuse_admitted(token)
            admit.reply.set_exception(self._stopped_error())
            raise
        finally:
            # However the wait ended (granted, refused, given up): it is time spent waiting.
            if reservation is None or reservation.waited:
                state.observer.waited_for_limits(trio.current_time() - started)
        if reservation is None:  # the asker gave up
            self._refuse_admitted(token)
            return
        self._grant(admit, reservation, token)

    def _refuse_admitted(self, token: object) -> None:
        state = self.state
        state.in_flight -= 1
        state.learn_nothing()
        self._release_slot(token)
        state.publish()

    def _grant(self, admit: Admit, reservation: Reservation, token: object) -> None:
        lease = Lease(self.state, reservation, self)
        self._leases[lease] = token
        if not admit.reply.set_result(lease):
            lease.abandon()  # the asker left in the same instant
        else:
            self.state.publish()

    # --- LeaseOwner ----------------------------------------------------------------------

    def lease_ended(self, lease: Lease) -> None:
        token = self._leases.pop(lease, None)
        if token is not None:
            self._release_slot(token)

    def lease_failed(self) -> None:
        self._publish_when_half_open()

    def crash(self, error: BaseException) -> None:
        self._crash.set(error)

    # --- internals -----------------------------------------------------------------------

    def _release_slot(self, token: object) -> None:
        slots = self._slots
        try:
            slots.release_on_behalf_of(token)
        except RuntimeError:
            return  # a slot of a previous run of this actor: that limiter is gone
        limit = max(1, self.state.concurrency_limit)
        if slots.total_tokens != limit:
            slots.total_tokens = limit

    def _stopped_error(self) -> DeploymentCrashedError:
        return DeploymentCrashedError(
            "the deployment's actor stopped while serving the request",
            deployment=self.state.config.name,
        )

    def _publish_when_half_open(self) -> None:
        """The snapshot must say half-open once an open period ends, without traffic."""
        opened_until = self.state.breaker.opened_until
        if opened_until is None or self._nursery is None or opened_until == self._publish_due:
            return
        self._publish_due = opened_until
        self._nursery.start_soon(self._publish_at, opened_until)

    async def _publish_at(self, when: float) -> None:
        await trio.sleep_until(when)
        if self._publish_due == when:
            self._publish_due = None
        self.state.publish()

    async def _health_loop(self) -> None:
        state = self.state

        async def probe() -> None:
            await state.provider.health_check()

        def changed(old: bool, new: bool) -> None:
            state.publish()

        state.health.on_change = changed
        await run_health_loop(state.health, probe, state.config.health)
