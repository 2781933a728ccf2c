"""The moving average behind latency, success-rate and concurrency baselines."""

from __future__ import annotations

import pytest

from hubactors.resilience import Ewma


def test_ewma_takes_the_first_value_then_moves_by_alpha() -> None:
    avg = Ewma(alpha=0.5)
    assert avg.value is None
    assert avg.update(1.0) == 1.0
    assert avg.update(3.0) == 2.0
    assert avg.update(2.0) == 2.0
    assert avg.count == 3


def test_ewma_starts_from_an_initial_value_when_given() -> None:
    avg = Ewma(alpha=0.1, initial=1.0)
    assert avg.update(0.0) == pytest.approx(0.9)


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5])
def test_ewma_rejects_an_alpha_outside_zero_to_one(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        Ewma(alpha=alpha)
