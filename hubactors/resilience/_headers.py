"""Rate-limit state reported by providers in response headers.

OpenAI (and Azure OpenAI and most OpenAI-compatible hosts) send
``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, with resets as Go durations
(``"6m0s"``, ``"20ms"``). Anthropic sends ``anthropic-ratelimit-{requests,tokens,
input-tokens,output-tokens}-{limit,remaining,reset}``, with resets as RFC 3339 times.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime

import msgspec

from hubactors._timing import parse_duration


class RateLimitHeaders(msgspec.Struct, frozen=True, kw_only=True):
    """What the headers said; ``None`` where they said nothing usable.

    Limits are per minute; ``*_reset`` are seconds from when the response was received
    until the provider's counter is fully replenished.
    """

    requests_limit: int | None = None
    requests_remaining: int | None = None
    requests_reset: float | None = None
    tokens_limit: int | None = None
    tokens_remaining: int | None = None
    tokens_reset: float | None = None
    input_tokens_limit: int | None = None
    input_tokens_remaining: int | None = None
    input_tokens_reset: float | None = None
    output_tokens_limit: int | None = None
    output_tokens_remaining: int | None = None
    output_tokens_reset: float | None = None

    def is_empty(self) -> bool:
        """True when no rate-limit header was recognised."""
        return all(getattr(self, name) is None for name in self.__struct_fields__)


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number != number or number < 0 or number == float("inf"):
        return None
    return int(number)


def _go_reset(value: str | None) -> float | None:
    if value is None:
        return None
    seconds = parse_duration(value)
    return None if seconds is None else max(0.0, seconds)


def _rfc3339_reset(value: str | None, wall_now: float) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        # Some compatible hosts send a duration here instead.
        return _go_reset(value)
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - wall_now)


def parse_rate_limit_headers(
    headers: Mapping[str, str], *, wall_now: float | None = None
) -> RateLimitHeaders:
    """Read OpenAI-style and Anthropic-style rate-limit headers (names in any case).

    ``wall_now`` is the Unix time the response arrived (``time.time()`` when ``None``); it
    turns Anthropic's absolute reset times into durations. Malformed values are ignored,
    never raised.
    """
    h = {k.lower(): v for k, v in headers.items()}
    wall = time.time() if wall_now is None else wall_now
    fields: dict[str, int | float | None] = {}
    for kind in ("requests", "tokens"):
        fields[f"{kind}_limit"] = _count(h.get(f"x-ratelimit-limit-{kind}"))
        fields[f"{kind}_remaining"] = _count(h.get(f"x-ratelimit-remaining-{kind}"))
        fields[f"{kind}_reset"] = _go_reset(h.get(f"x-ratelimit-reset-{kind}"))
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        prefix = f"anthropic-ratelimit-{kind}"
        key = kind.replace("-", "_")
        anthropic: dict[str, int | float | None] = {
            f"{key}_limit": _count(h.get(f"{prefix}-limit")),
            f"{key}_remaining": _count(h.get(f"{prefix}-remaining")),
            f"{key}_reset": _rfc3339_reset(h.get(f"{prefix}-reset"), wall),
        }
        for name, value in anthropic.items():
            if value is not None:
                fields[name] = value
    return msgspec.convert(
        {k: v for k, v in fields.items() if v is not None}, RateLimitHeaders, strict=False
    )
