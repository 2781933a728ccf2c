import pytest

from hubactors.config import BreakerConfig
from hubactors.errors import (
    AttemptTimeoutError,
    AuthenticationError,
    CircuitOpenError,
    ConnectTimeoutError,
    ContentFilterError,
    ContextLengthError,
    DeploymentCrashedError,
    NotFoundError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderInvalidRequestError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    TotalTimeoutError,
)
from hubactors.resilience import BreakerState, CircuitBreaker, counts_as_failure

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def make(**overrides: object) -> CircuitBreaker:
    settings: dict[str, object] = {
        "failure_rate": 0.5,
        "window": 10.0,
        "min_calls": 4,
        "open_for": 5.0,
        "half_open_probes": 2,
    }
    settings.update(overrides)
    return CircuitBreaker(BreakerConfig(**settings))  # type: ignore[arg-type]


def trip(breaker: CircuitBreaker, now: float = 0.0) -> None:
    for _ in range(breaker.config.min_calls):
        breaker.record_failure(now)
    assert breaker.state(now) is OPEN


def test_stays_closed_below_min_calls_however_bad() -> None:
    breaker = make()
    for _ in range(3):
        breaker.record_failure(0.0)
    assert breaker.state(0.0) is CLOSED
    assert breaker.allow(0.0)


def test_trips_on_failure_rate_once_min_calls_reached() -> None:
    breaker = make()
    breaker.record_success(0.0)
    breaker.record_success(0.0)
    breaker.record_failure(0.0)
    assert breaker.state(0.0) is CLOSED  # 3 calls < min_calls
    breaker.record_failure(1.0)  # 2 of 4 failed: 50%
    assert breaker.state(1.0) is OPEN
    assert breaker.opened_until == 6.0
    assert not breaker.allow(1.0)


def test_does_not_trip_below_failure_rate() -> None:
    breaker = make()
    for _ in range(3):
        breaker.record_success(0.0)
    breaker.record_failure(0.0)
    breaker.record_success(0.0)
    assert breaker.state(0.0) is CLOSED


def test_trips_on_slow_call_rate() -> None:
    breaker = make(slow_call_seconds=2.0, slow_call_rate=0.75)
    breaker.record_success(0.0, 0.5)
    for _ in range(3):
        breaker.record_success(0.0, 3.0)
    assert breaker.state(0.0) is OPEN
    assert breaker.stats(0.0).slow_calls == 3


def test_slow_calls_ignored_without_a_slow_threshold() -> None:
    breaker = make()
    for _ in range(10):
        breaker.record_success(0.0, 100.0)
    assert breaker.state(0.0) is CLOSED


def test_ignored_calls_such_as_429_and_4xx_never_trip() -> None:
    breaker = make()
    for error in (RateLimitError("slow down"), ProviderInvalidRequestError("bad")) * 10:
        assert not counts_as_failure(error)
        breaker.record_ignored(0.0)
    assert breaker.state(0.0) is CLOSED
    assert breaker.stats(0.0).calls == 0


def test_opens_for_open_for_then_half_open() -> None:
    breaker = make()
    trip(breaker)
    assert breaker.state(4.9) is OPEN
    assert not breaker.allow(4.9)
    assert breaker.state(5.0) is HALF_OPEN
    assert breaker.opened_until is None


def test_half_open_lets_exactly_the_probe_count_through() -> None:
    breaker = make(half_open_probes=2)
    trip(breaker)
    assert breaker.allow(5.0)
    assert breaker.allow(5.0)
    assert not breaker.allow(5.0)


def test_ignored_probe_returns_its_permit() -> None:
    breaker = make(half_open_probes=1)
    trip(breaker)
    assert breaker.allow(5.0)
    assert not breaker.allow(5.0)
    breaker.record_ignored(5.5)
    assert breaker.state(5.5) is HALF_OPEN
    assert breaker.allow(5.5)


def test_all_probes_succeeding_closes_and_clears_the_window() -> None:
    breaker = make(half_open_probes=2)
    trip(breaker)
    assert breaker.allow(5.0) and breaker.allow(5.0)
    breaker.record_success(5.1)
    assert breaker.state(5.1) is HALF_OPEN
    breaker.record_success(5.2)
    assert breaker.state(5.2) is CLOSED
    assert breaker.stats(5.2).calls == 0
    # One more failure does not re-trip on the cleared window.
    breaker.record_failure(5.3)
    assert breaker.state(5.3) is CLOSED


def test_probe_failure_reopens_for_longer_each_time_capped() -> None:
    breaker = make(half_open_probes=1, open_for=5.0)
    trip(breaker)
    now = 5.0
    periods = []
    for _ in range(6):
        assert breaker.allow(now)
        breaker.record_failure(now)
        assert breaker.state(now) is OPEN
        assert breaker.opened_until is not None
        periods.append(breaker.opened_until - now)
        now = breaker.opened_until
    assert periods == [10.0, 20.0, 40.0, 40.0, 40.0, 40.0]


def test_open_period_resets_after_recovery() -> None:
    breaker = make(half_open_probes=1)
    trip(breaker)
    breaker.allow(5.0)
    breaker.record_failure(5.0)  # reopened for 10 s
    assert breaker.allow(15.0)
    breaker.record_success(15.0)
    assert breaker.state(15.0) is CLOSED
    trip(breaker, 16.0)
    assert breaker.opened_until == 21.0


def test_slow_probe_counts_as_failed() -> None:
    breaker = make(slow_call_seconds=1.0, half_open_probes=1)
    trip(breaker)
    breaker.allow(5.0)
    breaker.record_success(5.0, 2.0)
    assert breaker.state(5.0) is OPEN


def test_results_arriving_while_open_are_ignored() -> None:
    breaker = make(half_open_probes=1)
    trip(breaker)
    breaker.record_success(1.0)
    breaker.record_failure(2.0)
    assert breaker.state(2.0) is OPEN
    assert breaker.opened_until == 5.0
    # A stale result in half-open without any probe out does not count either.
    breaker.record_success(5.0)
    assert breaker.state(5.0) is HALF_OPEN


def test_rolling_window_forgets_old_failures() -> None:
    breaker = make(window=10.0, min_calls=4)
    for _ in range(3):
        breaker.record_failure(0.0)
    assert breaker.stats(9.0).failures == 3
    assert breaker.stats(10.5).failures == 0
    breaker.record_failure(10.5)
    assert breaker.state(10.5) is CLOSED


def test_on_change_reports_every_transition() -> None:
    changes: list[tuple[BreakerState, BreakerState]] = []
    breaker = make(half_open_probes=1)
    breaker.on_change = lambda old, new: changes.append((old, new))
    trip(breaker)
    breaker.allow(5.0)
    breaker.record_failure(5.0)
    breaker.allow(15.0)
    breaker.record_success(15.0)
    assert changes == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]


@pytest.mark.parametrize(
    "error",
    [
        ServerError("boom", status=500),
        ProviderConnectionError("refused"),
        ConnectTimeoutError("slow"),
        AttemptTimeoutError("slow attempt"),
        StreamInterruptedError("cut"),
    ],
)
def test_counts_as_failure(error: BaseException) -> None:
    assert counts_as_failure(error)


@pytest.mark.parametrize(
    "error",
    [
        RateLimitError("429"),
        ProviderInvalidRequestError("400"),
        ContextLengthError("too long"),
        AuthenticationError("401"),
        PermissionDeniedError("403"),
        NotFoundError("404"),
        ContentFilterError("blocked"),
        CircuitOpenError("open"),
        # Local conditions say nothing about the provider's health.
        DeploymentCrashedError("crashed"),
        TotalTimeoutError("deadline"),
        ValueError("a bug"),
        KeyboardInterrupt(),
    ],
)
def test_does_not_count_as_failure(error: BaseException) -> None:
    assert not counts_as_failure(error)
