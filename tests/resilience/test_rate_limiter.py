import pytest
import trio
import trio.testing

from hubactors.config import DeploymentConfig
from hubactors.errors import LocalRateLimitError
from hubactors.resilience import RateLimiter, Reservation

NOON = 1717243200.0


async def admit_all(limiter: RateLimiter, tokens: list[int], stagger: float = 0.0) -> list[float]:
    """Start one acquire per entry of ``tokens`` (in order) and return each admission time."""
    times: list[float] = [-1.0] * len(tokens)

    async def one(i: int) -> None:
        await limiter.acquire(tokens[i])
        times[i] = trio.current_time()

    async with trio.open_nursery() as nursery:
        for i in range(len(tokens)):
            nursery.start_soon(one, i)
            await trio.sleep(stagger)
    return times


async def test_rpm_is_enforced(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(rpm=6)  # burst of 6, then one every 10 s
    times = await admit_all(limiter, [0] * 8)
    assert times == pytest.approx([0.0] * 6 + [10.0, 20.0])


async def test_tpm_is_enforced(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(tpm=600)  # 10 tokens per second
    times = await admit_all(limiter, [300, 300, 300, 300])
    assert times == pytest.approx([0.0, 0.0, 30.0, 60.0])


async def test_rpm_and_tpm_both_bind(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(rpm=2, tpm=6000)  # requests run out first
    times = await admit_all(limiter, [10, 10, 10])
    assert times == pytest.approx([0.0, 0.0, 30.0])


async def test_sliding_window_algorithm_is_enforced(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(rpm=4, algorithm="sliding-window")
    times = await admit_all(limiter, [0] * 6)
    # Four at once; the fifth once a quarter of that window has slid out of the next one.
    assert times[:4] == [0.0] * 4
    assert times[4] == pytest.approx(75.0)
    assert times[5] > times[4]


async def test_awkward_rates_on_a_far_clock_terminate_on_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Float rounding must neither make a waiter spin in place nor admit it early.
    autojump_clock.jump(123_456.789)
    start = trio.current_time()
    limiter = RateLimiter(tpm=7, now=start)  # 7/60 tokens per second
    times = await admit_all(limiter, [3, 3, 3, 3, 3])
    offsets = [t - start for t in times]
    assert offsets == pytest.approx([0.0, 0.0, 120 / 7, 300 / 7, 480 / 7])


async def test_raised_limit_lets_the_head_in_sooner(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(rpm=60)
    limiter.update_from_headers({"x-ratelimit-limit-requests": "1"}, 0.0)
    await limiter.acquire(0)
    admitted: list[float] = []

    async def waiter() -> None:
        await limiter.acquire(0)
        admitted.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.sleep(1)
        # Back to 60 rpm: the second token is in the bucket by t=1 + (1 - 1/60) * 1 s.
        limiter.update_from_headers({"x-ratelimit-limit-requests": "60"}, trio.current_time())
    assert admitted[0] < 2.0


async def test_reserving_estimates_stops_a_burst_of_long_prompts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(tpm=1200)  # 20 tokens per second
    used: list[tuple[float, int]] = []

    async def request() -> None:
        reservation = await limiter.acquire(500)
        used.append((trio.current_time(), 500))
        await trio.sleep(5)  # the call is in flight, usage unknown
        reservation.settle(500)

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(request)
    starts = sorted(t for t, _ in used)
    assert starts == pytest.approx([0.0, 0.0, 15.0, 40.0, 65.0])
    # The bucket's guarantee: over any span, at most capacity + rate * span tokens start.
    for i, t0 in enumerate(starts):
        for t1 in starts[i:]:
            started = sum(n for t, n in used if t0 <= t <= t1)
            assert started <= 1200 + 20 * (t1 - t0) + 1e-6


async def test_settle_gives_back_unused_tokens(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(tpm=1000)
    reservation = await limiter.acquire(900)
    reservation.settle(100)
    assert limiter.stats().tokens_available == pytest.approx(900.0)
    start = trio.current_time()
    await limiter.acquire(800)
    assert trio.current_time() == start


async def test_settle_above_the_estimate_takes_the_difference(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(tpm=1000)
    reservation = await limiter.acquire(100)
    reservation.settle(1500)
    assert limiter.stats().tokens_available == pytest.approx(-500.0)
    reservation.settle(0)  # idempotent: the first settle counted
    reservation.release()
    assert limiter.stats().tokens_available == pytest.approx(-500.0)


async def test_release_returns_request_and_tokens(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(rpm=1, tpm=1000)
    reservation = await limiter.acquire(700)
    reservation.release()
    reservation.release()
    stats = limiter.stats()
    assert stats.requests_available == pytest.approx(1.0)
    assert stats.tokens_available == pytest.approx(1000.0)
    assert reservation.done


async def test_release_wakes_a_waiter(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(rpm=1)
    first = await limiter.acquire(0)
    admitted: list[float] = []

    async def second() -> None:
        await limiter.acquire(0)
        admitted.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(second)
        await trio.sleep(3)
        first.release()
    assert admitted == [pytest.approx(3.0)]


async def test_cancelled_waiter_takes_nothing_and_next_waiter_proceeds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(tpm=600)  # 10 tokens per second
    await limiter.acquire(600)
    admitted: dict[str, float] = {}
    big_scope = trio.CancelScope()

    async def waiter(name: str, tokens: int) -> None:
        await limiter.acquire(tokens)
        admitted[name] = trio.current_time()

    async def big() -> None:
        with big_scope:
            await waiter("big", 600)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(big)
        await trio.sleep(1)
        nursery.start_soon(waiter, "small", 100)
        await trio.sleep(1)
        assert limiter.waiting == 2
        big_scope.cancel()
    assert "big" not in admitted
    # Head from t=2 with 20 tokens back: 80 more take 8 s. The big waiter took nothing.
    assert admitted["small"] == pytest.approx(10.0)
    assert limiter.stats().tokens_available == pytest.approx(0.0)
    assert limiter.waiting == 0


async def test_unmeetable_deadline_fails_at_once(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(rpm=1, name="dep-a")
    await limiter.acquire(0)
    start = trio.current_time()
    with pytest.raises(LocalRateLimitError) as caught:
        await limiter.acquire(0, deadline=start + 5)
    assert trio.current_time() == start
    error = caught.value
    assert error.retryable
    assert error.retry_after == pytest.approx(60.0)
    assert error.deployment == "dep-a"
    assert "local rate limit" in error.message
    assert "requests per minute" in error.message
    assert limiter.stats().rejected == 1


async def test_unmeetable_deadline_behind_other_waiters_fails_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(tpm=600)
    await limiter.acquire(600)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(limiter.acquire, 300)  # head, admitted at t=30
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.waiting == 1
        start = trio.current_time()
        with pytest.raises(LocalRateLimitError, match="tokens per minute"):
            # Behind 300 tokens it would need until t=60.
            await limiter.acquire(300, deadline=start + 45)
        assert trio.current_time() == start


async def test_meetable_deadline_waits(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(rpm=1)
    await limiter.acquire(0)
    await limiter.acquire(0, deadline=61.0)
    assert trio.current_time() == pytest.approx(60.0)


async def test_waiters_are_served_first_come_first_served(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(tpm=600)  # 10 tokens per second
    await limiter.acquire(600)
    order: list[str] = []

    async def waiter(name: str, tokens: int) -> None:
        await limiter.acquire(tokens)
        order.append(name)

    async with trio.open_nursery() as nursery:
        # The big request came first: the small ones (which would fit sooner) must not
        # overtake it, or a stream of small requests could starve it.
        for name, tokens in [("big", 500), ("small-1", 10), ("small-2", 10), ("mid", 100)]:
            nursery.start_soon(waiter, name, tokens)
            await trio.sleep(0.01)
    assert order == ["big", "small-1", "small-2", "mid"]


async def test_try_acquire_does_not_overtake_waiters(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(tpm=600)
    await limiter.acquire(600)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(limiter.acquire, 300)
        await trio.sleep(29)
        got = limiter.try_acquire(1)
        assert isinstance(got, float)
        assert got > 0
    await trio.sleep(1)
    got = limiter.try_acquire(1)
    assert isinstance(got, Reservation)


def test_try_acquire_is_non_blocking_and_reports_the_wait() -> None:
    clock = [0.0]
    limiter = RateLimiter(rpm=2, clock=lambda: clock[0])
    assert isinstance(limiter.try_acquire(0), Reservation)
    assert isinstance(limiter.try_acquire(0), Reservation)
    assert limiter.try_acquire(0) == pytest.approx(30.0)
    assert limiter.next_available(0.0) == pytest.approx(30.0)
    clock[0] = 30.0
    assert isinstance(limiter.try_acquire(0), Reservation)


def test_unlimited_limiter_always_admits() -> None:
    limiter = RateLimiter(clock=lambda: 0.0)
    for _ in range(1000):
        assert isinstance(limiter.try_acquire(10**6), Reservation)
    assert limiter.next_available(0.0) == 0.0


async def test_pause_until_holds_everything(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(rpm=100)
    limiter.pause_until(7.5)
    limiter.pause_until(2.0)  # never shortens a pause
    assert limiter.next_available(0.0) == pytest.approx(7.5)
    times = await admit_all(limiter, [0, 0])
    assert times == [pytest.approx(7.5)] * 2
    assert limiter.stats().paused_until is None


async def test_pause_during_a_wait_delays_the_waiter(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(rpm=1)
    await limiter.acquire(0)
    admitted: list[float] = []

    async def waiter() -> None:
        await limiter.acquire(0)
        admitted.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.sleep(1)
        limiter.pause_until(90.0)
    assert admitted == [pytest.approx(90.0)]


def test_openai_headers_tighten_limits_and_clamp_remaining() -> None:
    limiter = RateLimiter(rpm=1000, tpm=100_000, clock=lambda: 0.0)
    limiter.update_from_headers(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-limit-tokens": "200000",  # higher than configured: ignored
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-remaining-tokens": "1200",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-reset-tokens": "6m0s",
        },
        0.0,
    )
    stats = limiter.stats(0.0)
    assert stats.rpm_limit == 500
    assert stats.tpm_limit == 100_000
    assert stats.requests_available == 499
    assert stats.tokens_available == 1200
    assert limiter.try_acquire(5000, 0.0) == pytest.approx((5000 - 1200) / (100_000 / 60))


def test_headers_never_loosen_configured_limits_but_follow_the_provider_back_up() -> None:
    limiter = RateLimiter(rpm=100, clock=lambda: 0.0)
    limiter.update_from_headers({"x-ratelimit-limit-requests": "40"}, 0.0)
    assert limiter.stats(0.0).rpm_limit == 40
    limiter.update_from_headers({"x-ratelimit-limit-requests": "80"}, 0.0)
    assert limiter.stats(0.0).rpm_limit == 80
    limiter.update_from_headers({"x-ratelimit-limit-requests": "5000"}, 0.0)
    assert limiter.stats(0.0).rpm_limit == 100
    limiter.update_from_headers({"x-ratelimit-remaining-requests": "500"}, 0.0)
    assert limiter.stats(0.0).requests_available == 40  # never raised


def test_headers_add_a_limit_where_none_was_configured() -> None:
    limiter = RateLimiter(clock=lambda: 0.0)
    limiter.update_from_headers(
        {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0"}, 0.0
    )
    assert limiter.stats(0.0).rpm_limit == 60
    assert limiter.try_acquire(0, 0.0) == pytest.approx(1.0)


def test_anthropic_headers_tighten_limits() -> None:
    limiter = RateLimiter(rpm=1000, tpm=100_000, clock=lambda: 0.0)
    limiter.update_from_headers(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "10",
            "anthropic-ratelimit-requests-reset": "2024-06-01T12:00:30Z",
            "anthropic-ratelimit-input-tokens-limit": "40000",
            "anthropic-ratelimit-input-tokens-remaining": "3000",
            "anthropic-ratelimit-input-tokens-reset": "2024-06-01T12:00:01Z",
            "anthropic-ratelimit-output-tokens-limit": "8000",
            "anthropic-ratelimit-output-tokens-remaining": "8000",
        },
        0.0,
        wall_now=NOON,
    )
    stats = limiter.stats(0.0)
    assert stats.rpm_limit == 50
    assert stats.requests_available == 10
    assert stats.tpm_limit == 40_000
    assert stats.tokens_available == 3000


def test_anthropic_combined_token_limit_wins_over_input_tokens() -> None:
    limiter = RateLimiter(tpm=100_000, clock=lambda: 0.0)
    limiter.update_from_headers(
        {
            "anthropic-ratelimit-tokens-limit": "20000",
            "anthropic-ratelimit-tokens-remaining": "15000",
            "anthropic-ratelimit-input-tokens-limit": "40000",
        },
        0.0,
        wall_now=NOON,
    )
    stats = limiter.stats(0.0)
    assert stats.tpm_limit == 20_000
    assert stats.tokens_available == 15_000


def test_from_config_uses_the_deployment_limits() -> None:
    config = DeploymentConfig(
        name="d",
        provider="openai",
        model="m",
        rpm=30,
        tpm=9000,
        rate_limit_algorithm="sliding-window",
    )
    limiter = RateLimiter.from_config(config)
    stats = limiter.stats(0.0)
    assert (stats.algorithm, stats.rpm_limit, stats.tpm_limit) == ("sliding-window", 30, 9000)
