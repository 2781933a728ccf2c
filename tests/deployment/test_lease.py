"""Leases: admission by the actor, the attempt in the caller's task, the outcome reported once."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import hubactors
from hubactors import ChatRequest, HubConfigBuilder, Message
from hubactors.deployment import DeploymentClient
from hubactors.errors import DeploymentCrashedError, InvalidRequestError
from hubactors.providers.simulated import SimulatedCrash

REQUEST = ChatRequest(model="one", messages=[Message(role="user", content="hi")])


def one_deployment(**simulation: object) -> hubactors.HubConfig:
    return (
        HubConfigBuilder()
        .deployment(
            "one",
            provider="simulated",
            model="sim-small",
            rpm=1000,
            simulation={"latency": 1.0, "distribution": "fixed", **simulation},
        )
        .route("chat", ["one"], max_attempts=1)
        .build()
    )


def client(hub: hubactors.Hub) -> DeploymentClient:
    return hub._driver._deployments["one"]


def status(hub: hubactors.Hub) -> hubactors.DeploymentStatus:
    return hub.status()[0]


async def test_a_bug_in_the_callers_task_crashes_the_actor_and_the_caller_may_fail_over(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(one_deployment(crash_rate=1.0)) as hub:
        with pytest.raises(DeploymentCrashedError) as info:
            await hub.complete({"model": "chat", "messages": [{"role": "user", "content": "x"}]})
        assert info.value.retryable
        assert isinstance(info.value.__cause__, SimulatedCrash)
        await trio.sleep(1.0)  # the supervisor's backoff
        assert status(hub).restarts == 1
        assert status(hub).in_flight == 0


async def test_an_actor_crash_revokes_every_lease_it_granted_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = one_deployment(latency=30.0)
    async with hubactors.open_hub(config) as hub:
        deployment = client(hub)
        outcome: list[tuple[float, BaseException]] = []

        async def slow_call() -> None:
            try:
                await deployment.complete(REQUEST, estimated_tokens=10, deadline=None)
            except DeploymentCrashedError as exc:
                outcome.append((trio.current_time(), exc))

        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow_call)
            await trio.sleep(1.0)
            lease = await deployment.lease(10, None)
            with pytest.raises(DeploymentCrashedError) as info, lease.running():
                raise RuntimeError("a bug in the caller's task")
            assert isinstance(info.value.__cause__, RuntimeError)
        # The slow call did not wait its 30 s: its lease was revoked with the crash.
        assert [round(t - started, 3) for t, _ in outcome] == [1.0]
        await trio.sleep(1.0)
        assert status(hub).restarts == 1
        assert status(hub).in_flight == 0
        # The restarted actor serves again.
        response = await deployment.complete(REQUEST, estimated_tokens=10, deadline=None)
        assert response.deployment == "one"


async def test_our_own_refusal_under_a_lease_learns_nothing_and_crashes_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(one_deployment()) as hub:
        deployment = client(hub)
        for _ in range(20):
            lease = await deployment.lease(10, None)
            with pytest.raises(InvalidRequestError), lease.running():
                raise InvalidRequestError("cannot be encoded", field="messages[0].content")
            assert lease.done
        assert status(hub).restarts == 0
        assert status(hub).breaker == "closed"
        assert status(hub).in_flight == 0
        assert status(hub).errors == 0


async def test_a_cancelled_attempt_returns_its_slot_and_its_reservation(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(one_deployment(latency=30.0)) as hub:
        deployment = client(hub)
        limiter = deployment.state.limiter
        before = limiter.stats().requests_available
        with trio.move_on_after(1.0):
            await deployment.complete(REQUEST, estimated_tokens=10, deadline=None)
        assert status(hub).in_flight == 0
        assert limiter.stats().requests_available == pytest.approx(before, abs=0.1)
        assert status(hub).breaker == "closed"
        # The freed slot serves the next call at once.
        response = await deployment.complete(REQUEST, estimated_tokens=10, deadline=None)
        assert response.deployment == "one"


async def test_the_deployment_stamps_identity_and_cost_on_answers_and_stream_events(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(one_deployment()) as hub:
        deployment = client(hub)
        response = await deployment.complete(REQUEST, estimated_tokens=10, deadline=None)
        assert (response.provider, response.deployment) == ("simulated", "one")
        assert response.cost == pytest.approx(deployment.state.provider.cost_of(response.usage))
        assert response.cost > 0
        upstream = await deployment.open_stream(REQUEST, estimated_tokens=10, deadline=None)
        try:
            events = [await upstream.next() for _ in range(3)]
            while not isinstance(events[-1], hubactors.Finish):
                events.append(await upstream.next())
        finally:
            await upstream.aclose()
        start = events[0]
        assert isinstance(start, hubactors.StreamStart)
        assert (start.provider, start.deployment) == ("simulated", "one")
        usage = next(e for e in events if isinstance(e, hubactors.UsageEvent))
        assert usage.cost == pytest.approx(deployment.state.provider.cost_of(usage.usage))
        assert status(hub).in_flight == 0
