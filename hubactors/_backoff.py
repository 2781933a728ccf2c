"""Capped exponential backoff with jitter: one small policy for restarts, retries and probes."""

from __future__ import annotations

import random
from typing import Literal

import msgspec

Jitter = Literal["full", "equal", "none"]


class Backoff(msgspec.Struct, frozen=True, kw_only=True):
    """Delay before try number ``attempt`` (1 = the first retry).

    The ceiling grows as ``initial * multiplier ** (attempt - 1)``, capped at ``maximum``.
    ``full`` jitter draws uniformly from ``[0, ceiling]`` (AWS's "full jitter", which spreads
    a thundering herd best); ``equal`` from ``[ceiling / 2, ceiling]``; ``none`` is the ceiling.
    """

    initial: float = 0.1
    maximum: float = 10.0
    multiplier: float = 2.0
    jitter: Jitter = "full"

    def ceiling(self, attempt: int) -> float:
        """The largest delay for ``attempt``, before jitter."""
        exponent = max(0, attempt - 1)
        # Cap the exponent so a long crash loop cannot overflow a float.
        return float(min(self.maximum, self.initial * self.multiplier ** min(exponent, 64)))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """A jittered delay for ``attempt``, using ``rng`` (the module RNG when ``None``)."""
        top = self.ceiling(attempt)
        uniform = (rng or random).uniform
        if self.jitter == "full":
            return uniform(0.0, top)
        if self.jitter == "equal":
            return uniform(top / 2, top)
        return top
