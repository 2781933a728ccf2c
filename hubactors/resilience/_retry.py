"""When (and whether) to try a failed request again on the same deployment."""

from __future__ import annotations

import random

import msgspec

from hubactors._timing import Backoff
from hubactors.config import RetryConfig
from hubactors.errors import AttemptError


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """At most ``max_attempts`` attempts in all, full-jitter backoff between them.

    A provider's ``retry_after`` is honoured when it is at most ``max_retry_after``
    seconds; a longer one means this deployment is out for a while, so give up on it.
    """

    max_attempts: int = 3
    backoff: Backoff = msgspec.field(default_factory=lambda: Backoff(initial=0.25, maximum=8.0))
    max_retry_after: float = 60.0

    @classmethod
    def for_route(cls, config: RetryConfig, max_attempts: int) -> RetryPolicy:
        """The policy of a route: its ``retry`` settings and its attempt budget."""
        return cls(
            max_attempts=max_attempts,
            backoff=Backoff(initial=config.backoff_initial, maximum=config.backoff_max),
            max_retry_after=config.max_retry_after,
        )

    def delay_before(
        self,
        attempt: int,
        error: BaseException,
        now: float,
        deadline: float | None,
        rng: random.Random | None = None,
    ) -> float | None:
        """Seconds to wait before attempt number ``attempt`` (2 = the first retry), or
        ``None`` to give up.

        Gives up when ``error`` is not a retryable :class:`~hubactors.errors.AttemptError`,
        when ``attempt`` exceeds ``max_attempts``, when the provider asked for a longer wait
        than ``max_retry_after``, or when the wait would end at or after ``deadline``.
        Raises ``ValueError`` for an ``attempt`` below 2.
        """
        if attempt < 2:
            raise ValueError(f"attempt numbers retries from 2, got {attempt}")
        if not isinstance(error, AttemptError) or not error.retryable:
            return None
        if attempt > self.max_attempts:
            return None
        if error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            delay = max(0.0, error.retry_after)
        else:
            delay = self.backoff.delay(attempt - 1, rng)
        if deadline is not None and now + delay >= deadline:
            return None
        return delay
