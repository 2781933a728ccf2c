"""Routing strategies: each ranks the ready deployments of a route its own way."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import msgspec
import pytest

from hubactors.errors import ConfigError
from hubactors.model._tokens import (
    DEFAULT_OUTPUT_TOKENS,
    estimate_output_tokens,
    estimate_request_tokens,
)
from hubactors.model._types import ChatRequest, Message, Tool
from hubactors.resilience import Ewma
from hubactors.routing import (
    STRATEGY_NAMES,
    CostStrategy,
    DeploymentStatus,
    FailoverStrategy,
    HealthStrategy,
    LatencyStrategy,
    PriorityStrategy,
    RequestInfo,
    RoundRobinStrategy,
    Strategy,
    WeightedStrategy,
    make_strategy,
)

INFO = RequestInfo()


def dep(name: str, **fields: object) -> DeploymentStatus:
    return msgspec.structs.replace(DeploymentStatus(name=name), **fields)


def picks(strategy: Strategy, candidates: Sequence[DeploymentStatus], n: int) -> list[str]:
    out: list[str] = []
    for _ in range(n):
        chosen = strategy.choose(candidates, INFO, 0.0)
        assert chosen is not None
        out.append(chosen.name)
    return out


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_strategy_returns_none_without_candidates(name: str) -> None:
    assert make_strategy(name, ["a"]).choose([], INFO, 0.0) is None


# --- priority and failover -----------------------------------------------------------------


def test_priority_picks_the_lowest_priority_value() -> None:
    candidates = [dep("a", priority=2), dep("b", priority=0), dep("c", priority=1)]
    assert picks(PriorityStrategy(), candidates, 3) == ["b", "b", "b"]


def test_priority_breaks_ties_by_route_order() -> None:
    candidates = [dep("a", priority=1), dep("b", priority=0), dep("c", priority=0)]
    assert picks(PriorityStrategy(), candidates, 1) == ["b"]


def test_priority_falls_through_to_the_next_when_the_best_is_filtered_out() -> None:
    everyone = [dep("a", priority=0), dep("b", priority=1), dep("c", priority=2)]
    assert picks(PriorityStrategy(), everyone[1:], 1) == ["b"]
    assert picks(PriorityStrategy(), everyone[2:], 1) == ["c"]


def test_failover_takes_the_first_candidate_in_route_order() -> None:
    # Priority is ignored: failover is pure route order.
    candidates = [dep("a", priority=9), dep("b", priority=0)]
    assert picks(FailoverStrategy(), candidates, 2) == ["a", "a"]
    assert picks(FailoverStrategy(), candidates[1:], 1) == ["b"]


# --- round-robin and weighted --------------------------------------------------------------


def test_round_robin_spreads_picks_exactly_evenly() -> None:
    names = ["a", "b", "c", "d"]
    strategy = RoundRobinStrategy(names)
    chosen = picks(strategy, [dep(n) for n in names], 4 * 25)
    assert chosen[:5] == ["a", "b", "c", "d", "a"]
    assert Counter(chosen) == {n: 25 for n in names}


def test_round_robin_stays_fair_among_the_rest_when_one_is_skipped() -> None:
    names = ["a", "b", "c"]
    strategy = RoundRobinStrategy(names)
    without_b = [dep("a"), dep("c")]
    chosen = picks(strategy, without_b, 40)
    assert Counter(chosen) == {"a": 20, "c": 20}
    assert chosen[:4] == ["a", "c", "a", "c"]


def test_round_robin_gives_a_returning_deployment_its_turn_back() -> None:
    names = ["a", "b", "c"]
    strategy = RoundRobinStrategy(names)
    everyone = [dep(n) for n in names]
    assert picks(strategy, everyone, 1) == ["a"]
    assert picks(strategy, [dep("a"), dep("c")], 1) == ["c"]  # b skipped while busy
    assert picks(strategy, everyone, 6) == ["a", "b", "c", "a", "b", "c"]


def test_round_robin_uses_candidates_outside_the_route_only_as_a_last_resort() -> None:
    strategy = RoundRobinStrategy(["a"])
    assert picks(strategy, [dep("x"), dep("y")], 2) == ["x", "x"]


def test_weighted_shares_are_exact_over_a_cycle_and_interleaved() -> None:
    candidates = [dep("a", weight=5), dep("b", weight=1), dep("c", weight=1)]
    strategy = WeightedStrategy()
    cycle = picks(strategy, candidates, 7)
    assert cycle == ["a", "a", "b", "a", "c", "a", "a"]  # nginx's smooth order
    assert Counter(picks(strategy, candidates, 7 * 10)) == {"a": 50, "b": 10, "c": 10}


def test_weighted_handles_fractional_weights() -> None:
    candidates = [dep("a", weight=0.75), dep("b", weight=0.25)]
    assert Counter(picks(WeightedStrategy(), candidates, 400)) == {"a": 300, "b": 100}


def test_weighted_rebalances_among_the_remaining_when_one_is_skipped() -> None:
    strategy = WeightedStrategy()
    chosen = picks(strategy, [dep("a", weight=2), dep("c", weight=1)], 30)
    assert Counter(chosen) == {"a": 20, "c": 10}


# --- cost ----------------------------------------------------------------------------------


def test_cost_picks_the_cheapest_for_the_request_size() -> None:
    candidates = [
        dep("big", input_price=3.0, output_price=15.0),
        dep("small", input_price=0.15, output_price=0.60),
        dep("mid", input_price=1.0, output_price=4.0),
    ]
    info = RequestInfo(estimated_input_tokens=1000, estimated_output_tokens=100)
    chosen = CostStrategy().choose(candidates, info, 0.0)
    assert chosen is not None and chosen.name == "small"


def test_cost_weighs_the_expected_output_against_the_input() -> None:
    cheap_in = dep("cheap-in", input_price=1.0, output_price=10.0)
    cheap_out = dep("cheap-out", input_price=2.0, output_price=4.0)
    strategy = CostStrategy()
    long_prompt = RequestInfo(estimated_input_tokens=10_000, estimated_output_tokens=10)
    long_answer = RequestInfo(estimated_input_tokens=100, estimated_output_tokens=4_000)
    assert strategy.choose([cheap_in, cheap_out], long_prompt, 0.0) == cheap_in
    assert strategy.choose([cheap_in, cheap_out], long_answer, 0.0) == cheap_out


def test_cost_assumes_default_output_tokens_when_the_request_sets_no_maximum() -> None:
    cheap_in = dep("cheap-in", input_price=1.0, output_price=10.0)
    cheap_out = dep("cheap-out", input_price=2.0, output_price=4.0)
    prompt = [Message(role="user", content="x" * 3_500)]
    capped = RequestInfo.from_request(ChatRequest(model="m", messages=prompt, max_tokens=100))
    uncapped = RequestInfo.from_request(ChatRequest(model="m", messages=prompt))
    assert uncapped.estimated_output_tokens == DEFAULT_OUTPUT_TOKENS == 1024
    # ~1000 in + 100 out: 1000+1000 vs 2000+400; ~1000 in + 1024 out: 11240 vs 6096.
    assert CostStrategy().choose([cheap_in, cheap_out], capped, 0) == cheap_in
    assert CostStrategy().choose([cheap_in, cheap_out], uncapped, 0) == cheap_out


def test_cost_breaks_ties_by_priority_then_route_order() -> None:
    same = {"input_price": 1.0, "output_price": 1.0}
    candidates = [dep("a", priority=1, **same), dep("b", priority=0, **same), dep("c", **same)]
    assert picks(CostStrategy(), candidates, 1) == ["b"]


# --- latency -------------------------------------------------------------------------------


def test_latency_picks_the_fastest_measured() -> None:
    candidates = [
        dep("a", ewma_latency=0.8),
        dep("b", ewma_latency=0.2),
        dep("c", ewma_latency=0.5),
    ]
    assert picks(LatencyStrategy(epsilon=0), candidates, 2) == ["b", "b"]


def test_latency_tries_unmeasured_deployments_first_least_busy_first() -> None:
    candidates = [
        dep("a", ewma_latency=0.1),
        dep("b", in_flight=2),
        dep("c", in_flight=1),
    ]
    assert picks(LatencyStrategy(epsilon=0), candidates, 1) == ["c"]


def test_latency_moves_away_from_a_deployment_that_slowed_down() -> None:
    strategy = LatencyStrategy(epsilon=0)
    averages = {"a": Ewma(alpha=0.3), "b": Ewma(alpha=0.3)}
    averages["a"].update(0.10)
    averages["b"].update(0.20)

    def board() -> list[DeploymentStatus]:
        return [dep(n, ewma_latency=avg.value) for n, avg in averages.items()]

    assert picks(strategy, board(), 1) == ["a"]
    served: list[str] = []
    for _ in range(10):
        chosen = strategy.choose(board(), INFO, 0.0)
        assert chosen is not None
        served.append(chosen.name)
        averages[chosen.name].update(1.0 if chosen.name == "a" else 0.2)  # a degrades
    assert served[0] == "a"
    assert served[-5:] == ["b"] * 5


def test_latency_ranks_streams_by_time_to_first_token() -> None:
    quick_start = dep("quick-start", ewma_latency=2.0, ewma_ttft=0.1)
    quick_total = dep("quick-total", ewma_latency=1.0, ewma_ttft=0.5)
    strategy = LatencyStrategy(epsilon=0)
    stream = RequestInfo(stream=True)
    assert strategy.choose([quick_total, quick_start], stream, 0.0) == quick_start
    assert strategy.choose([quick_total, quick_start], INFO, 0.0) == quick_total


def test_latency_explores_a_slow_deployment_now_and_then_with_a_seeded_rng() -> None:
    candidates = [dep("fast", ewma_latency=0.1), dep("slow", ewma_latency=5.0)]
    first = picks(LatencyStrategy(epsilon=0.2, rng=random.Random(7)), candidates, 1000)
    again = picks(LatencyStrategy(epsilon=0.2, rng=random.Random(7)), candidates, 1000)
    assert first == again  # deterministic for a seed
    slow = Counter(first)["slow"]
    assert 70 <= slow <= 130  # epsilon/2 of the picks explore the slow one


def test_latency_rejects_an_epsilon_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="epsilon"):
        LatencyStrategy(epsilon=1.5)


# --- health --------------------------------------------------------------------------------


def test_health_prefers_the_higher_success_rate() -> None:
    candidates = [dep("flaky", ewma_success=0.6), dep("solid", ewma_success=0.99)]
    assert picks(HealthStrategy(), candidates, 1) == ["solid"]


def test_health_prefers_the_less_loaded_of_equally_healthy() -> None:
    candidates = [dep("busy", in_flight=16, max_concurrency=32), dep("idle", in_flight=0)]
    assert picks(HealthStrategy(), candidates, 1) == ["idle"]


def test_health_penalizes_a_half_open_breaker_and_a_failed_probe() -> None:
    probing = dep("probing", breaker="half_open", healthy=False, ewma_success=1.0)
    recovering = dep("recovering", breaker="half_open", ewma_success=1.0)
    meh = dep("meh", ewma_success=0.7)
    strategy = HealthStrategy()
    assert picks(strategy, [probing, recovering, meh], 1) == ["meh"]
    assert picks(strategy, [probing, recovering], 1) == ["recovering"]


def test_health_breaks_ties_by_route_order() -> None:
    assert picks(HealthStrategy(), [dep("a"), dep("b")], 1) == ["a"]


# --- factory and request info ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("priority", PriorityStrategy),
        ("failover", FailoverStrategy),
        ("round-robin", RoundRobinStrategy),
        ("weighted", WeightedStrategy),
        ("cost", CostStrategy),
        ("latency", LatencyStrategy),
        ("health", HealthStrategy),
    ],
)
def test_make_strategy_builds_each_configured_name(name: str, cls: type) -> None:
    strategy = make_strategy(name, ["a", "b"])
    assert isinstance(strategy, cls)
    assert strategy.name == name


def test_make_strategy_gives_each_route_its_own_state() -> None:
    candidates = [dep("a"), dep("b")]
    one = make_strategy("round-robin", ["a", "b"])
    two = make_strategy("round-robin", ["a", "b"])
    assert picks(one, candidates, 1) == ["a"]
    assert picks(two, candidates, 1) == ["a"]


def test_make_strategy_rejects_an_unknown_name_with_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown routing strategy 'fastest'") as info:
        make_strategy("fastest", ["a"])
    assert info.value.key == "strategy"
    assert "round-robin" in info.value.reason


def test_request_info_from_request_estimates_the_prompt_size() -> None:
    request = ChatRequest(
        model="m",
        messages=[Message(role="system", content="x" * 40), Message(role="user", content="y" * 60)],
        tools=[Tool(name="lookup", description="find a thing")],
        max_tokens=50,
        stream=True,
    )
    info = RequestInfo.from_request(request)
    assert info.estimated_output_tokens == 50
    assert info.stream is True
    assert info.estimated_input_tokens == estimate_request_tokens(request)
    assert info.estimated_input_tokens > 100 / 4  # at least the text at 4 characters a token


def test_request_info_uses_a_custom_estimator() -> None:
    class Fixed:
        def estimate(self, request: ChatRequest) -> int:
            return 1234

    info = RequestInfo.from_request(ChatRequest(model="m", messages=[]), Fixed())
    assert info == RequestInfo(estimated_input_tokens=1234)


def test_request_info_sizes_the_output_like_the_tpm_reservation() -> None:
    for max_tokens in (None, 1, 50, 100_000):
        request = ChatRequest(model="m", messages=[], max_tokens=max_tokens)
        info = RequestInfo.from_request(request)
        assert info.estimated_output_tokens == estimate_output_tokens(request)
