"""Time arithmetic every layer shares: capped exponential backoff with jitter (one small policy
for restarts, retries and probes), and reading durations and ``Retry-After`` off the wire."""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Mapping
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


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (``"6m0s"``, ``"1.5s"``, ``"20ms"``, ``"34.4s"``)."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date) or a
    rate-limit reset header; ``None`` when the response said nothing usable."""
    lower = {k.lower(): v for k, v in headers.items()}
    value = lower.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                parsed = None
            if parsed is not None:
                now = time.time() if now is None else now
                return max(0.0, parsed.timestamp() - now)
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        value = lower.get(name)
        if value is not None:
            seconds = parse_duration(value)
            if seconds is not None:
                return seconds
    return None
