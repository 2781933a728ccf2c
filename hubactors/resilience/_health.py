"""Is a deployment up? Passive evidence from live traffic plus optional active probes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from hubactors._timing import Backoff
from hubactors.config import HealthConfig
from hubactors.errors import ProviderError, ProviderTimeoutError
from hubactors.resilience._breaker import counts_as_failure

HealthCallback = Callable[[bool, bool], None]


class HealthTracker:
    """Health of one deployment; starts healthy.

    Passive: ``failure_threshold`` consecutive live failures that
    :func:`~hubactors.resilience.counts_as_failure` mark it unhealthy; one live success marks
    it healthy. Active: a failed probe marks it unhealthy at once (a probe is a deliberate,
    cheap check), a good one healthy. ``on_change(old, new)`` is called with the old and
    new ``healthy`` values on every change; an exception from it propagates.
    """

    def __init__(
        self,
        config: HealthConfig | None = None,
        *,
        failure_threshold: int = 3,
        on_change: HealthCallback | None = None,
    ) -> None:
        self.config = config or HealthConfig()
        self.failure_threshold = max(1, failure_threshold)
        self.on_change = on_change
        self._healthy = True
        self._consecutive_failures = 0
        self._failed_probes = 0
        self.last_error: BaseException | None = None
        self.changed_at: float | None = None

    @property
    def healthy(self) -> bool:
        """Whether the deployment is believed to be up."""
        return self._healthy

    @property
    def consecutive_failures(self) -> int:
        """Live failures since the last success."""
        return self._consecutive_failures

    @property
    def failed_probes(self) -> int:
        """Probes failed in a row."""
        return self._failed_probes

    def _set(self, healthy: bool, now: float) -> None:
        if healthy is self._healthy:
            return
        self._healthy = healthy
        self.changed_at = now
        if self.on_change is not None:
            self.on_change(not healthy, healthy)

    def record_success(self, now: float) -> None:
        """A live request succeeded."""
        self._consecutive_failures = 0
        self._failed_probes = 0
        self._set(True, now)

    def record_failure(self, error: BaseException, now: float) -> None:
        """A live request failed; only errors that count as failures are counted."""
        if not counts_as_failure(error):
            return
        self.last_error = error
        self._consecutive_failures += 1
        if self._consecutive_failures >= self.failure_threshold:
            self._set(False, now)

    def probe_succeeded(self, now: float) -> None:
        """An active probe answered."""
        self.record_success(now)

    def probe_failed(self, error: BaseException, now: float) -> None:
        """An active probe failed or timed out."""
        self.last_error = error
        self._failed_probes += 1
        self._set(False, now)

    def next_probe_delay(self, now: float) -> float:
        """Seconds until the next probe: ``interval`` while healthy; while down, ``interval``
        doubled for each failed probe in a row, capped at ``max_backoff``."""
        interval = self.config.interval
        if self._healthy:
            return interval
        backoff = Backoff(
            initial=interval, maximum=max(interval, self.config.max_backoff), jitter="none"
        )
        return backoff.ceiling(self._failed_probes + 1)


async def probe_once(
    tracker: HealthTracker, probe: Callable[[], Awaitable[None]], probe_timeout: float
) -> bool:
    """Run ``probe`` once, for at most ``probe_timeout`` seconds; record and return whether
    it passed.

    A timeout or a :class:`~hubactors.errors.ProviderError` is a failed probe; any other
    exception propagates (a bug should crash the caller), as does cancellation.
    """
    error: BaseException | None = None
    passed = False
    with trio.move_on_after(probe_timeout):
        try:
            await probe()
            passed = True
        except ProviderError as exc:
            error = exc
    now = trio.current_time()
    if passed:
        tracker.probe_succeeded(now)
    else:
        tracker.probe_failed(
            error or ProviderTimeoutError(f"health probe timed out after {probe_timeout:g}s"), now
        )
    return passed


async def run_health_loop(
    tracker: HealthTracker, probe: Callable[[], Awaitable[None]], config: HealthConfig
) -> None:
    """Probe forever (until cancelled), waiting ``tracker.next_probe_delay`` before each probe.

    Returns at once when ``config.interval`` is 0 (probing disabled). Exceptions other
    than :class:`~hubactors.errors.ProviderError` from ``probe`` propagate.
    """
    if config.interval <= 0:
        return
    while True:
        await trio.sleep(tracker.next_probe_delay(trio.current_time()))
        await probe_once(tracker, probe, config.timeout)
