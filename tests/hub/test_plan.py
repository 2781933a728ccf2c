"""The attempt plan on its own: no actors, no clock, no I/O."""

from __future__ import annotations

import math
import random

import pytest

from hubactors._timing import Backoff
from hubactors.config import RetryConfig
from hubactors.errors import (
    AuthenticationError,
    CooldownError,
    LocalRateLimitError,
    NoDeploymentAvailable,
    RateLimitError,
    ServerError,
    TotalTimeoutError,
)
from hubactors.hub._plan import AttemptPlan, Queue, Try, WaitForChange
from hubactors.resilience import RetryPolicy
from hubactors.routing import Busy, Choice, Unavailable


def plan(deadline: float = 100.0, max_attempts: int = 4) -> AttemptPlan:
    retry = RetryPolicy(
        max_attempts=max_attempts, backoff=Backoff(initial=1.0, maximum=8.0, jitter="none")
    )
    return AttemptPlan("chat", deadline, retry, random.Random(0))


def fail(p: AttemptPlan, name: str, error: Exception, now: float = 0.0) -> None:
    """One attempt on ``name`` that failed with ``error`` (raising the final error, if any)."""
    p.started(name)
    p.failed(name, error, 0.5)  # type: ignore[arg-type]
    p.check_failure(error, now)  # type: ignore[arg-type]


def test_a_choice_is_tried() -> None:
    assert plan().next(Choice("a"), 0.0) == Try("a")


def test_failover_leaves_out_what_failed_this_round() -> None:
    p = plan()
    fail(p, "a", ServerError("boom", deployment="a"))
    assert p.exclude(0.0) == frozenset({"a"})
    fail(p, "b", ServerError("boom", deployment="b"))
    assert p.exclude(0.0) == frozenset({"a", "b"})
    assert [r.deployment for r in p.records] == ["a", "b"]
    assert p.sent_to == ["a", "b"]


def test_when_all_tried_are_unavailable_it_waits_for_the_retry_backoff_then_starts_a_round() -> (
    None
):
    p = plan()
    fail(p, "a", ServerError("boom", deployment="a"))
    action = p.next(Unavailable(skipped=[("b", "cooling down")], retry_at=math.inf), 10.0)
    # Retry number 2 waits the backoff's first step: 1 s without jitter.
    assert action == WaitForChange(11.0)
    assert p.exclude(10.5) == frozenset({"a"})  # still backing off
    assert p.exclude(11.0) == frozenset()  # a new round: everything may be tried again


def test_the_routes_retry_settings_make_its_policy() -> None:
    config = RetryConfig(backoff_initial=0.5, backoff_max=2.0, max_retry_after=5.0)
    policy = RetryPolicy.for_route(config, max_attempts=7)
    assert policy.max_attempts == 7
    assert (policy.backoff.initial, policy.backoff.maximum) == (0.5, 2.0)
    assert policy.max_retry_after == 5.0
    p = AttemptPlan("chat", 100.0, policy)
    fail(p, "a", RateLimitError("429", deployment="a", retry_after=30.0))
    # A Retry-After longer than the route accepts is not waited for.
    with pytest.raises(RateLimitError):
        p.next(Unavailable(skipped=[], retry_at=math.inf), 0.0)


def test_a_retry_after_is_honoured_as_the_backoff() -> None:
    p = plan()
    fail(p, "a", RateLimitError("429", deployment="a", retry_after=4.0))
    action = p.next(Unavailable(skipped=[], retry_at=math.inf), 0.0)
    assert action == WaitForChange(4.0)


def test_a_cooldown_ending_before_the_backoff_wakes_earlier() -> None:
    p = plan()
    fail(p, "a", ServerError("boom", deployment="a"))
    action = p.next(Unavailable(skipped=[("b", "cooling down")], retry_at=0.25), 0.0)
    assert action == WaitForChange(0.25)


def test_a_non_retryable_error_ends_the_request_with_that_error() -> None:
    p = plan()
    error = AuthenticationError("bad key", deployment="a", status=401)
    with pytest.raises(AuthenticationError) as info:
        fail(p, "a", error)
    assert info.value is error
    assert any("after 1 attempt(s) on route 'chat'" in note for note in info.value.__notes__)


def test_running_out_of_attempts_lists_every_try_when_several_deployments_were_involved() -> None:
    p = plan(max_attempts=2)
    fail(p, "a", ServerError("boom", deployment="a"))
    with pytest.raises(NoDeploymentAvailable) as info:
        fail(p, "b", ServerError("down", deployment="b"))
    assert [name for name, _ in info.value.attempts] == ["a", "b"]
    assert isinstance(info.value.__cause__, ServerError)


def test_a_failure_at_the_deadline_is_the_requests_timeout() -> None:
    p = plan(deadline=5.0)
    with pytest.raises(TotalTimeoutError, match=r"1 attempt\(s\) \(a\)") as info:
        fail(p, "a", ServerError("boom", deployment="a"), now=5.0)
    assert isinstance(info.value.__cause__, ServerError)


def test_nothing_available_until_after_the_deadline_gives_up_now() -> None:
    p = plan(deadline=5.0)
    with pytest.raises(NoDeploymentAvailable) as info:
        p.next(Unavailable(skipped=[("a", "circuit open")], retry_at=9.0), 0.0)
    assert info.value.attempts == [("a", "circuit open")]


def test_an_actor_restarting_is_waited_for_even_without_a_known_time() -> None:
    p = plan(deadline=5.0)
    action = p.next(
        Unavailable(skipped=[("a", "restarting")], retry_at=math.inf, restarting=True), 0.0
    )
    assert action == WaitForChange(5.0)


def test_with_one_deployment_its_own_last_error_ends_the_request() -> None:
    p = plan(deadline=5.0)
    fail(p, "a", CooldownError("resting", deployment="a", retry_after=30.0))
    with pytest.raises(CooldownError):
        p.next(Unavailable(skipped=[], retry_at=30.0), 0.0)


def test_busy_deployments_queue_until_the_limit_lifts() -> None:
    assert plan().next(Busy(retry_at=3.0), 0.0) == Queue(3.0)
    assert plan().next(Busy(retry_at=math.inf, slots_full=True), 0.0) == Queue(math.inf)


def test_a_rate_limit_that_lifts_only_after_the_deadline_is_refused_at_once() -> None:
    with pytest.raises(LocalRateLimitError, match="deadline cannot be met") as info:
        plan(deadline=5.0).next(Busy(retry_at=60.0), 0.0)
    assert info.value.retryable is False
    assert info.value.retry_after == 60.0


def test_hedging_stops_before_the_last_attempt() -> None:
    p = plan(max_attempts=2)
    assert p.may_hedge
    p.started("a")
    assert not p.may_hedge
