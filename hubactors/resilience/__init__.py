"""Per-deployment resilience: rate limits, circuit breaker, retries, concurrency, health, queue.

The pure parts take the current time (seconds on the Trio clock) as an argument; the
async parts (:meth:`RateLimiter.acquire`, :class:`ConcurrencyLimiter`,
:func:`run_health_loop`, :class:`RequestQueue`) run under Trio.
"""

from hubactors.resilience._adaptive import AdaptiveConcurrency, ConcurrencyLimiter
from hubactors.resilience._breaker import (
    BreakerState,
    BreakerStats,
    CircuitBreaker,
    counts_as_failure,
)
from hubactors.resilience._headers import RateLimitHeaders, parse_rate_limit_headers
from hubactors.resilience._health import HealthTracker, probe_once, run_health_loop
from hubactors.resilience._queue import RequestQueue
from hubactors.resilience._rate_limiter import (
    Algorithm,
    Limiter,
    RateLimiter,
    RateLimiterStats,
    Reservation,
    per_minute_limiter,
)
from hubactors.resilience._retry import RetryPolicy
from hubactors.resilience._sliding_window import SlidingWindowLimiter
from hubactors.resilience._token_bucket import TokenBucket

__all__ = [
    "AdaptiveConcurrency",
    "Algorithm",
    "BreakerState",
    "BreakerStats",
    "CircuitBreaker",
    "ConcurrencyLimiter",
    "HealthTracker",
    "Limiter",
    "RateLimitHeaders",
    "RateLimiter",
    "RateLimiterStats",
    "RequestQueue",
    "Reservation",
    "RetryPolicy",
    "SlidingWindowLimiter",
    "TokenBucket",
    "counts_as_failure",
    "parse_rate_limit_headers",
    "per_minute_limiter",
    "probe_once",
    "run_health_loop",
]
