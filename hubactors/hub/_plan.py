"""The attempt plan of one request: failover, retry rounds and when to give up, as pure logic.

The request driver asks the router for a deployment, hands the answer to
:meth:`AttemptPlan.next` with the current time, and does what it says: :class:`Try` a
deployment, :class:`Queue` behind the route's other waiters (every deployment is at a
limit), or :class:`WaitForChange` (nothing can serve until a cooldown ends, an actor comes
back or the retry backoff passes). Failed attempts go to :meth:`AttemptPlan.failed`, which
raises the request's final error once nothing more may be tried. Nothing here awaits or
reads a clock, so the whole policy is tested without actors or time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import NoReturn

from hubactors.errors import (
    AttemptError,
    LocalRateLimitError,
    NoDeploymentAvailable,
    TotalTimeoutError,
)
from hubactors.resilience import RetryPolicy
from hubactors.routing import Busy, Choice, Selection, Unavailable


@dataclass(frozen=True, slots=True)
class Try:
    """Send the request to ``deployment``."""

    deployment: str


@dataclass(frozen=True, slots=True)
class Queue:
    """Every deployment is at a limit: wait for a turn in the route's queue; a local rate
    limit lifts by itself at ``wake_at`` (``inf``: only a finishing request frees a slot)."""

    wake_at: float


@dataclass(frozen=True, slots=True)
class WaitForChange:
    """Nothing can serve now: wait for a status change, or until ``until``."""

    until: float


Action = Try | Queue | WaitForChange


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt: where, how it ended (``"ok"`` or the error's type) and how long it took."""

    deployment: str
    outcome: str
    duration: float


@dataclass
class AttemptPlan:
    """What one request has tried so far, and what it may still try before ``deadline``."""

    route: str
    deadline: float
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """The route's retry policy; its ``max_attempts`` bounds failover and retries together."""
    rng: random.Random = field(default_factory=random.Random)
    count: int = 0
    tried: set[str] = field(default_factory=set)
    history: list[tuple[str, str]] = field(default_factory=list)
    records: list[AttemptRecord] = field(default_factory=list)
    sent_to: list[str] = field(default_factory=list)
    """Every deployment an attempt started on, in order (failed, answered or in flight)."""
    last_error: AttemptError | None = None
    retry_at: float | None = None
    """When the deployments in ``tried`` may be tried again (the retry backoff's end)."""

    # --- choosing --------------------------------------------------------------------------

    def exclude(self, now: float) -> frozenset[str]:
        """The deployments the next selection must leave out: those tried this round, unless
        the retry backoff is over (then a new round starts)."""
        if self.retry_at is not None and now >= self.retry_at:
            self.tried.clear()
            self.retry_at = None
        return frozenset(self.tried)

    def next(self, selection: Selection, now: float) -> Action:
        """What to do with the router's ``selection``; raises the final error when nothing
        can serve before the deadline."""
        if isinstance(selection, Choice):
            return Try(selection.deployment)
        if isinstance(selection, Busy):
            if not selection.slots_full and selection.retry_at >= self.deadline:
                raise LocalRateLimitError(
                    f"deadline cannot be met: route {self.route!r} is at its rate limits "
                    f"for {selection.retry_at - now:.3g}s more",
                    retryable=False,
                    retry_after=selection.retry_at - now,
                )
            return Queue(selection.retry_at)
        return WaitForChange(self._wake_time(selection, now))

    def _wake_time(self, selection: Unavailable, now: float) -> float:
        """When to look again after every deployment not yet tried is unavailable.

        The ones tried already may be retried after the retry policy's backoff (which
        honours a Retry-After); the others once their cooldown ends or their actor is back.
        """
        if self.last_error is not None and self.tried and self.retry_at is None:
            delay = self.retry.delay_before(
                self.count + 1, self.last_error, now, self.deadline, self.rng
            )
            # No retry of those (too late, or asked to stay away too long): maybe others.
            self.retry_at = math.inf if delay is None else now + delay
        wake = selection.retry_at
        if self.retry_at is not None:
            wake = min(wake, self.retry_at)
        if now >= self.deadline or (wake >= self.deadline and not selection.restarting):
            if self.last_error is not None:
                self.give_up(selection.skipped)
            raise NoDeploymentAvailable(self.route, selection.skipped)
        return min(wake, self.deadline)

    # --- attempts --------------------------------------------------------------------------

    @property
    def max_attempts(self) -> int:
        return self.retry.max_attempts

    @property
    def may_hedge(self) -> bool:
        """Whether another attempt may start alongside the running one."""
        return self.count + 1 < self.max_attempts

    def started(self, deployment: str) -> None:
        """An attempt on ``deployment`` starts."""
        self.count += 1
        if deployment not in self.sent_to:
            self.sent_to.append(deployment)

    def succeeded(self, deployment: str, duration: float) -> None:
        """An attempt answered."""
        self.records.append(AttemptRecord(deployment, "ok", duration))

    def failed(self, deployment: str, error: AttemptError, duration: float) -> None:
        """An attempt failed; the request goes on (failover or a later retry) unless
        :meth:`check_failure` says otherwise."""
        self.tried.add(deployment)
        self.history.append((deployment, f"{type(error).__name__}: {error.message}"))
        self.records.append(AttemptRecord(deployment, type(error).__name__, duration))
        self.last_error = error

    def check_failure(self, error: AttemptError, now: float) -> None:
        """Raise the request's final error if ``error`` ends it: the deadline passed, the
        error is not retryable, or no attempt is left."""
        if now >= self.deadline:
            raise self.timed_out() from error
        if not error.retryable or self.count >= self.max_attempts:
            self.give_up()

    def give_up(self, skipped: list[tuple[str, str]] | None = None) -> NoReturn:
        """Raise the error that ends the request.

        With one deployment involved, its own error (the caller learns exactly what went
        wrong); with several, :class:`NoDeploymentAvailable` listing each try and skip,
        caused by the last error.
        """
        skipped = skipped or []
        last = self.last_error
        assert last is not None, "give_up needs a failed attempt"
        if len({name for name, _ in self.history}) == 1 and not skipped:
            last.add_note(f"after {self.count} attempt(s) on route {self.route!r}")
            raise last
        raise NoDeploymentAvailable(self.route, [*self.history, *skipped]) from last

    def timed_out(self) -> TotalTimeoutError:
        """The error for a request whose deadline passed."""
        tried = ", ".join(self.sent_to) or "no deployment"
        return TotalTimeoutError(
            f"the request's deadline passed after {self.count} attempt(s) ({tried})"
        )
