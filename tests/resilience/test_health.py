import pytest
import trio
import trio.testing

from hubactors.config import HealthConfig
from hubactors.errors import ProviderInvalidRequestError, RateLimitError, ServerError
from hubactors.resilience import HealthTracker, run_health_loop


def test_unhealthy_after_consecutive_counted_failures() -> None:
    tracker = HealthTracker(failure_threshold=3)
    tracker.record_failure(ServerError("a"), 0.0)
    tracker.record_failure(ServerError("b"), 1.0)
    tracker.record_success(2.0)  # breaks the streak
    tracker.record_failure(ServerError("c"), 3.0)
    tracker.record_failure(ServerError("d"), 4.0)
    assert tracker.healthy
    tracker.record_failure(ServerError("e"), 5.0)
    assert not tracker.healthy
    assert tracker.changed_at == 5.0


def test_errors_that_do_not_count_leave_health_alone() -> None:
    tracker = HealthTracker(failure_threshold=1)
    tracker.record_failure(RateLimitError("429"), 0.0)
    tracker.record_failure(ProviderInvalidRequestError("400"), 0.0)
    assert tracker.healthy
    assert tracker.consecutive_failures == 0


def test_one_success_recovers() -> None:
    changes: list[tuple[bool, bool]] = []
    tracker = HealthTracker(failure_threshold=1, on_change=lambda a, b: changes.append((a, b)))
    tracker.record_failure(ServerError("down"), 0.0)
    tracker.record_success(1.0)
    assert tracker.healthy
    assert changes == [(True, False), (False, True)]


def test_probe_delay_is_interval_then_backs_off_while_down() -> None:
    tracker = HealthTracker(HealthConfig(interval=10.0, max_backoff=60.0))
    assert tracker.next_probe_delay(0.0) == 10.0
    delays = []
    for _ in range(5):
        tracker.probe_failed(ServerError("down"), 0.0)
        delays.append(tracker.next_probe_delay(0.0))
    assert delays == [20.0, 40.0, 60.0, 60.0, 60.0]
    tracker.probe_succeeded(0.0)
    assert tracker.next_probe_delay(0.0) == 10.0


class ScriptedProbe:
    """A probe whose outcomes follow a script: "ok", "fail" (ServerError) or "hang"."""

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.times: list[float] = []

    async def __call__(self) -> None:
        self.times.append(trio.current_time())
        outcome = self.script.pop(0) if self.script else "ok"
        if outcome == "fail":
            raise ServerError("probe failed", status=503)
        if outcome == "hang":
            await trio.sleep_forever()


async def run_for(
    seconds: float, tracker: HealthTracker, probe: ScriptedProbe, config: HealthConfig
) -> None:
    with trio.move_on_after(seconds):
        await run_health_loop(tracker, probe, config)


async def test_healthy_deployment_is_probed_every_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = HealthConfig(interval=10.0, timeout=1.0)
    probe = ScriptedProbe([])
    tracker = HealthTracker(config)
    await run_for(45.0, tracker, probe, config)
    assert probe.times == [10.0, 20.0, 30.0, 40.0]
    assert tracker.healthy


async def test_failing_probes_back_off_then_recovery_resets(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = HealthConfig(interval=10.0, timeout=1.0, max_backoff=40.0)
    probe = ScriptedProbe(["fail", "fail", "hang", "fail", "ok"])
    tracker = HealthTracker(config)
    await run_for(200.0, tracker, probe, config)
    # fail@10 -> +20, fail@30 -> +40, hang@70 (times out at 71) -> +40 (capped),
    # fail@111 -> +40, ok@151 -> back to every 10 s.
    assert probe.times == [10.0, 30.0, 70.0, 111.0, 151.0, 161.0, 171.0, 181.0, 191.0]
    assert tracker.healthy


async def test_probe_timeout_marks_unhealthy(autojump_clock: trio.testing.MockClock) -> None:
    config = HealthConfig(interval=10.0, timeout=2.0)
    probe = ScriptedProbe(["hang"])
    tracker = HealthTracker(config)
    await run_for(13.0, tracker, probe, config)
    assert not tracker.healthy
    assert "timed out" in str(tracker.last_error)


async def test_disabled_probing_returns_at_once(autojump_clock: trio.testing.MockClock) -> None:
    probe = ScriptedProbe([])
    await run_health_loop(HealthTracker(), probe, HealthConfig(interval=0.0))
    assert trio.current_time() == 0.0
    assert probe.times == []


async def test_a_bug_in_the_probe_propagates(autojump_clock: trio.testing.MockClock) -> None:
    async def broken() -> None:
        raise KeyError("bug")

    config = HealthConfig(interval=1.0)
    with pytest.raises(KeyError):
        await run_health_loop(HealthTracker(config), broken, config)
