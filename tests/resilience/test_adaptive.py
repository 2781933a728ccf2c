import pytest

from hubactors.resilience import AdaptiveConcurrency


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
