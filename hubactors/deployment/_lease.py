"""A lease: one admitted attempt on a deployment, run in the caller's own task.

The deployment's actor owns admission (a slot under the concurrency cap, the breaker's
permission, a rate-limit reservation) and what is learned from each outcome; the bytes of
the request and its answer need not pass through the actor's task. So the actor grants a
:class:`Lease`, the caller's task talks to the provider under it, and the lease hands the
outcome back exactly once: success (settles the reservation with the real usage), failure
(the breaker and health learn from it), or neither (cancelled: nothing is learned, the
reservation is returned).

A crash of the actor revokes its leases: the work under :meth:`Lease.running` is cancelled
at once and raises a retryable :class:`~hubactors.errors.DeploymentCrashedError`, so no
caller keeps using a deployment whose actor is gone. A bug surfacing in the caller's task
(any exception that is not one of ours) crashes the actor in turn, as it would have if the
actor had made the call itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

import trio

from hubactors.deployment._state import DeploymentState
from hubactors.errors import DeploymentCrashedError, HubError, ProviderError
from hubactors.model._types import Usage
from hubactors.providers._base import Provider
from hubactors.resilience import Reservation


class LeaseOwner(Protocol):
    """What a lease reports to the actor that granted it."""

    def lease_ended(self, lease: Lease) -> None:
        """The lease is over (its slot is free again)."""
        ...

    def lease_failed(self) -> None:
        """The provider failed under the lease (the breaker may have opened)."""
        ...

    def crash(self, error: BaseException) -> None:
        """A bug surfaced under the lease: the actor must crash with ``error``."""
        ...


class Lease:
    """Permission to run one attempt on a deployment; granted by its actor only.

    Use :meth:`running` around every await that talks to :attr:`provider`, then report
    :meth:`succeeded` (or let :meth:`running` report the failure). :meth:`abandon` ends a
    lease that neither succeeded nor failed; every ending after the first is ignored.
    """

    __slots__ = (
        "_done", "_on_revoke", "_owner", "_reservation", "_scope", "revoked", "started", "state",
    )  # fmt: skip

    def __init__(self, state: DeploymentState, reservation: Reservation, owner: LeaseOwner) -> None:
        self.state = state
        self._reservation = reservation
        self._owner = owner
        self._done = False
        self._scope: trio.CancelScope | None = None
        self._on_revoke: Callable[[], None] | None = None
        self.revoked: DeploymentCrashedError | None = None
        self.started = trio.current_time()

    @property
    def provider(self) -> Provider:
        """The client to talk to under this lease."""
        return self.state.provider

    @property
    def done(self) -> bool:
        """True once the outcome was reported (or the lease revoked)."""
        return self._done

    def succeeded(self, usage: Usage, responsiveness: float) -> None:
        """The attempt succeeded: settle the reservation with ``usage`` and learn from it."""
        if self._done:
            return
        self.state.learn_success(self.started, usage, responsiveness)
        self._reservation.settle(usage.input_tokens + usage.output_tokens)
        self._end()

    def failed(self, error: ProviderError) -> None:
        """The provider failed: return the reservation (no usage was reported) and learn."""
        if self._done:
            return
        self._reservation.release()
        self.state.learn_failure(error, self.started)
        self._end()
        self._owner.lease_failed()

    def abandon(self) -> None:
        """Cancelled, or refused by us before it reached the provider: nothing is learned."""
        if self._done:
            return
        self._reservation.release()
        self.state.learn_nothing()
        self._end()

    def revoke(self, error: DeploymentCrashedError) -> None:
        """The actor is gone: end the lease and cancel the work running under it."""
        if self._done:
            return
        self.revoked = error
        self.state.errors += 1  # the caller hears of a failure: count it as the old actor's
        self.abandon()
        if self._scope is not None:
            self._scope.cancel()
        if self._on_revoke is not None:
            self._on_revoke()

    def on_revoke(self, stop: Callable[[], None]) -> None:
        """Call ``stop`` if the lease is revoked: work that runs outside :meth:`running`
        (a stream read chunk by chunk) stops itself that way."""
        self._on_revoke = stop

    def settle_error(self, error: BaseException) -> BaseException:
        """Report how the attempt's work ended with ``error`` and return what to raise:
        the error itself, or a ``DeploymentCrashedError`` for a bug (the actor crashes).

        A ``ProviderError`` is the deployment's failure; our own ``HubError`` and
        cancellation end the lease learning nothing.
        """
        if isinstance(error, ProviderError):
            self.failed(error)
        elif isinstance(error, HubError) or not isinstance(error, Exception):
            self.abandon()
        else:
            self.state.errors += 1
            self.abandon()
            self._owner.crash(error)
            return DeploymentCrashedError(
                "the deployment crashed while serving the request",
                deployment=self.state.config.name,
            )
        return error

    def running(self, deadline: float = math.inf) -> Running:
        """Run a piece of the attempt (the call, or one read of a stream) under the lease:
        ``with lease.running(): ...``.

        A ``ProviderError`` is reported as the failure and re-raised; our own ``HubError``
        (bad input caught at encoding) and cancellation end the lease learning nothing; any
        other exception is a bug: it crashes the actor and the caller gets a retryable
        ``DeploymentCrashedError``. Raises that error too when the lease is (or gets)
        revoked. At ``deadline`` the work is cancelled and :attr:`Running.deadline_passed`
        says so (the caller turns that into its error); one cancel scope serves both.
        """
        if self.revoked is not None:
            raise self.revoked
        return Running(self, deadline)

    def _end(self) -> None:
        self._done = True
        state = self.state
        state.in_flight -= 1
        self._owner.lease_ended(self)
        state.publish()


def revoke_all(leases: set[Lease], make_error: Callable[[], DeploymentCrashedError]) -> None:
    """Revoke every lease in ``leases`` (the actor that granted them stopped)."""
    for lease in list(leases):
        lease.revoke(make_error())


class Running:
    """One piece of an attempt under a lease (see :meth:`Lease.running`)."""

    __slots__ = ("_lease", "_scope", "deadline_passed")

    def __init__(self, lease: Lease, deadline: float) -> None:
        self._lease = lease
        self._scope = trio.CancelScope(deadline=deadline)
        self.deadline_passed = False

    def __enter__(self) -> Running:
        self._scope.__enter__()
        self._lease._scope = self._scope
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        lease = self._lease
        lease._scope = None
        raised = error if error is None else lease.settle_error(error)
        # The scope is left before anything is raised here, so Trio's state stays sound.
        # (True with no error at all: only a swallowed error counts.)
        swallowed = bool(self._scope.__exit__(kind, error, traceback)) and error is not None
        if raised is not None and raised is not error:
            raise raised from error
        if swallowed:
            if lease.revoked is not None:
                raise lease.revoked
            self.deadline_passed = True
        return swallowed
