"""The router's selection: what it skips, and why, before a strategy ranks the rest."""

from __future__ import annotations

import trio
import trio.testing

import hubactors
from hubactors import HubConfigBuilder
from hubactors.actors import Mailbox
from hubactors.config import RouteConfig
from hubactors.model._types import ChatRequest, ImagePart, Message, TextPart
from hubactors.routing import (
    Choice,
    DeploymentStatus,
    RequestInfo,
    RouterActor,
    StatusBoard,
    Unavailable,
)


def router(*statuses: DeploymentStatus) -> RouterActor:
    board = StatusBoard()
    for status in statuses:
        board.publish(status)
    routes = {"chat": RouteConfig(name="chat", deployments=[s.name for s in statuses])}
    return RouterActor(routes, board, Mailbox("router", 8))


def info(text: str = "hi", *, image: bool = False) -> RequestInfo:
    content: list[TextPart | ImagePart] = [TextPart(text=text)]
    if image:
        content.append(ImagePart(url="https://example.com/cat.png"))
    return RequestInfo.from_request(
        ChatRequest(model="chat", messages=[Message(role="user", content=content)])
    )


async def test_a_prompt_larger_than_a_context_window_goes_to_a_model_it_fits() -> None:
    r = router(
        DeploymentStatus(name="small", context_window=1000),
        DeploymentStatus(name="large", context_window=200_000),
    )
    assert r.select("chat", info("x" * 100), frozenset()) == Choice("small")
    assert r.select("chat", info("x" * 20_000), frozenset()) == Choice("large")


async def test_when_no_model_fits_the_router_says_why_for_each() -> None:
    r = router(DeploymentStatus(name="small", context_window=1000))
    selection = r.select("chat", info("x" * 20_000), frozenset())
    assert isinstance(selection, Unavailable)
    [(name, why)] = selection.skipped
    assert name == "small" and "context window of 1000 tokens too small" in why
    assert selection.retry_at == float("inf")  # waiting would not help


async def test_images_go_only_to_models_that_see_and_unknown_models_are_assumed_to() -> None:
    r = router(
        DeploymentStatus(name="text-only", vision=False),
        DeploymentStatus(name="unknown"),
    )
    assert r.select("chat", info(image=True), frozenset()) == Choice("unknown")
    assert r.select("chat", info(), frozenset()) == Choice("text-only")


async def test_the_hub_routes_a_long_prompt_past_a_deployment_whose_window_is_too_small(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = (
        HubConfigBuilder()
        .deployment("small", provider="simulated", model="sim-small", context_window=500)
        .deployment("big", provider="simulated", model="sim-small", priority=1)
        .route("chat", ["small", "big"], strategy="priority")
        .build()
    )
    async with hubactors.open_hub(config) as hub:
        short = await hub.complete(ask("hello"))
        long = await hub.complete(ask("word " * 2000))
    assert (short.deployment, long.deployment) == ("small", "big")


def ask(text: str) -> dict[str, object]:
    return {"model": "chat", "messages": [{"role": "user", "content": text}]}
