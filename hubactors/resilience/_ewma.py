"""An exponentially weighted moving average, for latencies and success rates."""

from __future__ import annotations


class Ewma:
    """``value`` is ``None`` until the first observation, which is taken as is.

    Each later observation ``x`` moves the average to ``alpha * x + (1 - alpha) * value``:
    a larger ``alpha`` forgets faster. Raises ``ValueError`` if ``alpha`` is not in (0, 1].
    """

    __slots__ = ("alpha", "count", "value")

    def __init__(self, alpha: float = 0.2, initial: float | None = None) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be within (0, 1], got {alpha!r}")
        self.alpha = alpha
        self.value: float | None = initial
        self.count = 0

    def update(self, value: float) -> float:
        """Fold in one observation and return the new average."""
        self.count += 1
        current = self.value
        self.value = value if current is None else current + self.alpha * (value - current)
        return self.value

    def __repr__(self) -> str:
        return f"Ewma(alpha={self.alpha!r}, value={self.value!r}, count={self.count!r})"
