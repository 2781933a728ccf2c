"""Per-deployment resilience: rate limits, circuit breaker, retries, concurrency, health, queue.

The pure parts take the current time (seconds on the Trio clock) as an argument; the
async parts (:meth:`RateLimiter.acquire`, :func:`run_health_loop`, :class:`RequestQueue`)
run under Trio. :class:`Ewma` is the moving average that adaptive concurrency and the
deployment statuses the router reads are measured with.
"""

from hubactors.resilience._adaptive import AdaptiveConcurrency
from hubactors.resilience._breaker import (
    BreakerState,
    BreakerStats,
    CircuitBreaker,
    counts_as_failure,
)
from hubactors.resilience._ewma import Ewma
from hubactors.resilience._headers import RateLimitHeaders, parse_rate_limit_headers
from hubactors.resilience._health import HealthTracker, run_health_loop
from hubactors.resilience._queue import RequestQueue
from hubactors.resilience._rate_limiter import (
    Limiter,
    RateLimiter,
    RateLimiterStats,
    Reservation,
)
from hubactors.resilience._retry import RetryPolicy
from hubactors.resilience._sliding_window import SlidingWindowLimiter
from hubactors.resilience._token_bucket import TokenBucket

__all__ = [
    "AdaptiveConcurrency",
    "BreakerState",
    "BreakerStats",
    "CircuitBreaker",
    "Ewma",
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
    "run_health_loop",
]
