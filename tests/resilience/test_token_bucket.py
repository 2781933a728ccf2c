import math

import pytest

from hubactors.resilience import TokenBucket


def test_starts_full_and_takes_while_tokens_last() -> None:
    bucket = TokenBucket(10, 1, now=0.0)
    assert bucket.try_take(4, 0.0) == 0.0
    assert bucket.try_take(6, 0.0) == 0.0
    assert bucket.available(0.0) == 0.0


def test_short_bucket_reports_wait_and_takes_nothing() -> None:
    bucket = TokenBucket(10, 2, now=0.0)
    bucket.try_take(10, 0.0)
    assert bucket.try_take(3, 0.0) == pytest.approx(1.5)
    assert bucket.available(0.0) == 0.0


def test_refills_at_rate_up_to_capacity() -> None:
    bucket = TokenBucket(10, 2, now=0.0)
    bucket.try_take(10, 0.0)
    assert bucket.available(2.0) == pytest.approx(4.0)
    assert bucket.available(100.0) == 10.0


def test_waiting_the_reported_time_is_enough() -> None:
    bucket = TokenBucket(7, 0.3, now=1000.0)
    bucket.try_take(7, 1000.0)
    wait = bucket.try_take(5, 1000.0)
    assert bucket.try_take(5, 1000.0 + wait) == 0.0


def test_oversize_amount_admitted_when_full_then_debt_blocks_later() -> None:
    bucket = TokenBucket(10, 1, now=0.0)
    bucket.try_take(1, 0.0)
    assert bucket.try_take(25, 0.0) == pytest.approx(1.0)  # waits for a full bucket only
    assert bucket.try_take(25, 1.0) == 0.0
    assert bucket.available(1.0) == pytest.approx(-15.0)
    assert bucket.try_take(1, 1.0) == pytest.approx(16.0)


def test_give_back_is_capped_at_capacity() -> None:
    bucket = TokenBucket(10, 1, now=0.0)
    bucket.try_take(3, 0.0)
    bucket.give_back(100, 0.0)
    assert bucket.available(0.0) == 10.0


def test_consume_goes_into_debt() -> None:
    bucket = TokenBucket(10, 1, now=0.0)
    bucket.consume(12, 0.0)
    assert bucket.available(0.0) == -2.0


def test_clamp_lowers_but_never_raises() -> None:
    bucket = TokenBucket(10, 1, now=0.0)
    bucket.clamp_available(4, 0.0)
    assert bucket.available(0.0) == 4.0
    bucket.clamp_available(9, 0.0)
    assert bucket.available(0.0) == 4.0


def test_set_limit_lower_caps_tokens_and_higher_grants_no_burst() -> None:
    bucket = TokenBucket(10, 1, now=0.0)
    bucket.set_limit(5, 0.5, 0.0)
    assert bucket.available(0.0) == 5.0
    bucket.set_limit(100, 10, 0.0)
    assert bucket.available(0.0) == 5.0
    assert bucket.available(1.0) == 15.0


def test_time_going_backwards_adds_nothing() -> None:
    bucket = TokenBucket(10, 1, now=5.0)
    bucket.try_take(10, 5.0)
    assert bucket.available(3.0) == 0.0
    assert bucket.available(6.0) == pytest.approx(1.0)


def test_no_refill_means_infinite_wait() -> None:
    bucket = TokenBucket(1, 0, now=0.0)
    bucket.try_take(1, 0.0)
    assert bucket.try_take(1, 50.0) == math.inf


@pytest.mark.parametrize(("capacity", "rate"), [(0, 1), (-1, 1), (1, -1)])
def test_rejects_invalid_limits(capacity: float, rate: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(capacity, rate, now=0.0)
