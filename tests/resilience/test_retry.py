import random

import pytest

from hubactors._timing import Backoff
from hubactors.errors import (
    AuthenticationError,
    RateLimitError,
    ServerError,
    TotalTimeoutError,
)
from hubactors.resilience import RetryPolicy


def test_full_jitter_stays_within_the_growing_ceiling() -> None:
    policy = RetryPolicy(max_attempts=10, backoff=Backoff(initial=0.25, maximum=8.0))
    rng = random.Random(7)
    for attempt, ceiling in [(2, 0.25), (3, 0.5), (4, 1.0), (8, 8.0), (10, 8.0)]:
        delays = [
            policy.delay_before(attempt, ServerError("x"), 0.0, None, rng) for _ in range(200)
        ]
        assert all(d is not None and 0.0 <= d <= ceiling for d in delays)
        assert max(d for d in delays if d is not None) > ceiling * 0.8  # really jittered


def test_retry_after_is_honoured() -> None:
    policy = RetryPolicy()
    error = RateLimitError("429", retry_after=7.0)
    assert policy.delay_before(2, error, 0.0, None) == 7.0


def test_retry_after_longer_than_the_maximum_gives_up() -> None:
    policy = RetryPolicy(max_retry_after=60.0)
    assert policy.delay_before(2, RateLimitError("429", retry_after=61.0), 0.0, None) is None


def test_attempts_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.delay_before(3, ServerError("x"), 0.0, None) is not None
    assert policy.delay_before(4, ServerError("x"), 0.0, None) is None


def test_deadline_is_respected() -> None:
    policy = RetryPolicy()
    error = RateLimitError("429", retry_after=5.0)
    assert policy.delay_before(2, error, 100.0, deadline=106.0) == 5.0
    assert policy.delay_before(2, error, 100.0, deadline=104.0) is None


def test_backoff_past_the_deadline_gives_up() -> None:
    policy = RetryPolicy(backoff=Backoff(initial=2.0, maximum=2.0, jitter="none"))
    assert policy.delay_before(2, ServerError("x"), 0.0, deadline=1.0) is None


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("401"),
        TotalTimeoutError("deadline"),
        ServerError("marked final", retryable=False),
        ValueError("not a provider error"),
    ],
)
def test_non_retryable_errors_give_up(error: BaseException) -> None:
    assert RetryPolicy().delay_before(2, error, 0.0, None) is None


def test_attempt_numbers_start_at_two() -> None:
    with pytest.raises(ValueError):
        RetryPolicy().delay_before(1, ServerError("x"), 0.0, None)
