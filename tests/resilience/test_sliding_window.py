import pytest

from hubactors.resilience import SlidingWindowLimiter


def test_admits_limit_within_one_window() -> None:
    window = SlidingWindowLimiter(10, 60, now=0.0)
    for _ in range(10):
        assert window.try_take(1, 5.0) == 0.0
    assert window.try_take(1, 5.0) > 0
    assert window.available(5.0) == 0.0


def test_previous_window_slides_out_linearly() -> None:
    window = SlidingWindowLimiter(10, 60, now=0.0)
    window.try_take(10, 0.0)
    # Half-way through the next window, half of the previous window still counts.
    assert window.available(90.0) == pytest.approx(5.0)
    assert window.available(120.0) == pytest.approx(10.0)


def test_wait_within_the_current_window() -> None:
    window = SlidingWindowLimiter(10, 60, now=0.0)
    window.try_take(10, 0.0)
    wait = window.try_take(4, 60.0)
    assert wait == pytest.approx(24.0)  # 4 of the 10 must slide out: 40% of the window
    assert window.try_take(4, 60.0 + wait) == 0.0


def test_wait_into_the_next_window() -> None:
    window = SlidingWindowLimiter(10, 60, now=0.0)
    window.try_take(8, 10.0)
    wait = window.try_take(5, 10.0)
    # Needs the next window (starting at 60) with 3 of the 8 slid out: 60 + 60 * 3/8.
    assert 10.0 + wait == pytest.approx(82.5)
    assert window.try_take(5, 10.0 + wait) == 0.0
    assert window.try_take(1, 10.0 + wait) > 0


def test_usage_two_windows_ago_is_forgotten() -> None:
    window = SlidingWindowLimiter(10, 60, now=0.0)
    window.try_take(10, 0.0)
    assert window.available(200.0) == 10.0


def test_oversize_admitted_when_empty_then_blocks() -> None:
    window = SlidingWindowLimiter(10, 60, now=0.0)
    window.try_take(1, 0.0)
    wait = window.try_take(30, 0.0)
    assert wait == pytest.approx(120.0)
    assert window.try_take(30, 120.0) == 0.0
    assert window.try_take(1, 121.0) > 0


def test_give_back_and_clamp() -> None:
    window = SlidingWindowLimiter(10, 60, now=0.0)
    window.try_take(6, 0.0)
    window.give_back(4, 0.0)
    assert window.available(0.0) == 8.0
    window.clamp_available(3, 0.0)
    assert window.available(0.0) == 3.0
    window.clamp_available(9, 0.0)
    assert window.available(0.0) == 3.0


def test_give_back_reaches_into_previous_window() -> None:
    window = SlidingWindowLimiter(10, 60, now=0.0)
    window.try_take(10, 30.0)
    window.give_back(10, 61.0)
    assert window.available(61.0) == 10.0


def test_set_limit_uses_token_bucket_terms() -> None:
    window = SlidingWindowLimiter(10, 60, now=0.0)
    window.set_limit(5, 5 / 60, 0.0)
    assert window.capacity == 5.0
    assert window.window == pytest.approx(60.0)
    window.try_take(5, 0.0)
    assert window.try_take(1, 0.0) > 0
