import pytest
import trio
import trio.testing

from hubactors.resilience import AdaptiveConcurrency, ConcurrencyLimiter


def test_additive_increase_after_a_window_of_successes() -> None:
    aimd = AdaptiveConcurrency(4, maximum=10)
    for _ in range(3):
        aimd.on_success(1.0, 0.0)
    assert aimd.limit == 4
    aimd.on_success(1.0, 0.0)
    assert aimd.limit == 5
    for _ in range(5):
        aimd.on_success(1.0, 0.0)
    assert aimd.limit == 6


def test_increase_stops_at_the_maximum() -> None:
    aimd = AdaptiveConcurrency(2, maximum=3)
    for _ in range(100):
        aimd.on_success(1.0, 0.0)
    assert aimd.limit == 3


def test_overload_halves_once_per_cooldown() -> None:
    aimd = AdaptiveConcurrency(16, maximum=16, cooldown=1.0)
    assert aimd.on_overload(10.0)
    for _ in range(5):  # the rest of the same burst of 429s
        assert not aimd.on_overload(10.5)
    assert aimd.limit == 8
    assert aimd.on_overload(11.0)
    assert aimd.limit == 4


def test_decrease_stops_at_the_minimum() -> None:
    aimd = AdaptiveConcurrency(8, minimum=3, maximum=8)
    for t in range(10):
        aimd.on_overload(float(t * 10))
    assert aimd.limit == 3


def test_latency_far_above_baseline_counts_as_overload() -> None:
    aimd = AdaptiveConcurrency(8, maximum=8, latency_tolerance=2.0, warmup=5)
    for _ in range(5):
        aimd.on_success(1.0, 0.0)
    assert aimd.baseline_latency == pytest.approx(1.0)
    aimd.on_success(1.9, 5.0)
    assert aimd.limit == 8
    aimd.on_success(3.0, 10.0)
    assert aimd.limit == 4


def test_slow_answers_during_warmup_are_not_overload() -> None:
    aimd = AdaptiveConcurrency(8, maximum=8, warmup=5)
    aimd.on_success(1.0, 0.0)
    aimd.on_success(50.0, 1.0)
    assert aimd.limit == 8


@pytest.mark.parametrize(
    "kwargs",
    [
        {"minimum": 0, "maximum": 4},
        {"minimum": 5, "maximum": 4},
        {"maximum": 4, "decrease_factor": 1.0},
    ],
)
def test_rejects_inconsistent_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AdaptiveConcurrency(2, **kwargs)  # type: ignore[arg-type]


async def peak_concurrency(limiter: ConcurrencyLimiter, calls: int) -> int:
    peak = 0

    async def call() -> None:
        nonlocal peak
        async with limiter.slot():
            peak = max(peak, limiter.in_use)
            await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        for _ in range(calls):
            nursery.start_soon(call)
    return peak


async def test_fixed_limiter_caps_calls_in_flight(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter.from_settings(3, adaptive=False)
    assert await peak_concurrency(limiter, 10) == 3
    limiter.on_overload(0.0)  # no effect without adaptation
    assert limiter.limit == 3


async def test_adaptive_limiter_follows_the_adaptive_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter.from_settings(8, adaptive=True)
    assert limiter.limit == 8
    limiter.on_overload(0.0)
    assert limiter.limit == 4
    assert await peak_concurrency(limiter, 10) == 4
    for _ in range(4):
        limiter.on_success(0.1, 5.0)
    assert limiter.limit == 5


async def test_one_task_may_hold_several_slots(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter(2)
    async with limiter.slot(), limiter.slot():
        assert limiter.in_use == 2
    assert limiter.in_use == 0


async def test_cancelled_while_waiting_holds_no_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(1)
    async with limiter.slot():
        with trio.move_on_after(1):
            async with limiter.slot():
                pytest.fail("got a second slot")
        assert limiter.waiting == 0
    assert limiter.in_use == 0
