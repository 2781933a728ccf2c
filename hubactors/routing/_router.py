"""The router actor: picks a deployment for each request by the route's strategy.

It keeps no per-request state and never awaits I/O: it reads the status board that the
provider actors publish, filters out what cannot serve now, and lets the route's strategy
choose among the rest. Strategy state (round-robin cursors, weights) lives here, so one
router serves every caller; if it crashes, its supervisor restarts it with fresh cursors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec
import trio

from hubactors.actors import Mailbox, Reply
from hubactors.config import RouteConfig
from hubactors.errors import InvalidRequestError
from hubactors.resilience import BreakerState
from hubactors.routing._status import DeploymentStatus, StatusBoard
from hubactors.routing._strategies import RequestInfo, Strategy, make_strategy


class Choice(msgspec.Struct, frozen=True):
    """A deployment to send the request to."""

    deployment: str


class Busy(msgspec.Struct, frozen=True):
    """Deployments could serve, but all are at a limit: wait (queue) and ask again.

    ``retry_at`` is the earliest ``trio.current_time()`` at which a local rate limit lifts
    by itself (``inf`` if none will). ``slots_full`` says some deployment is at its
    concurrency cap, which a finishing request frees at a time nobody knows in advance.
    """

    retry_at: float
    slots_full: bool = False


class Unavailable(msgspec.Struct, frozen=True):
    """Nothing of the route can serve now; ``skipped`` says why for each deployment.

    ``retry_at`` is the earliest time a cooldown or open breaker ends (``inf`` if none will).
    ``restarting`` says an actor is being restarted: it comes back at a time nobody knows in
    advance, announced by a status change.
    """

    skipped: list[tuple[str, str]]
    retry_at: float
    restarting: bool = False


Selection = Choice | Busy | Unavailable


@dataclass(slots=True)
class Select:
    """Ask the router for a deployment of ``route``, leaving out ``exclude``."""

    route: str
    info: RequestInfo
    exclude: frozenset[str]
    reply: Reply[Selection]


def route_named(routes: Mapping[str, RouteConfig], name: str) -> RouteConfig:
    """The route callers call ``name``; :class:`InvalidRequestError` naming the known ones
    if there is none."""
    config = routes.get(name)
    if config is None:
        known = ", ".join(sorted(routes)) or "none"
        raise InvalidRequestError(f"unknown model/route {name!r} (known: {known})", field="model")
    return config


def _why_not(status: DeploymentStatus, now: float) -> str:
    if not status.up:
        return "restarting"
    if status.breaker == BreakerState.OPEN:
        return "circuit open"
    if now < status.cooldown_until:
        return f"cooling down for {status.cooldown_until - now:.1f}s after a rate limit"
    if not status.healthy:
        return "unhealthy"
    return "unavailable"


def _recovers_at(status: DeploymentStatus, now: float) -> float:
    # A cooldown (Retry-After, or an open breaker, which its actor publishes as a cooldown
    # too) ends at a known time. A restarting actor announces its return by publishing.
    if status.up and now < status.cooldown_until:
        return status.cooldown_until
    return float("inf")


@dataclass
class RouterActor:
    """Serves :class:`Select` messages from its mailbox; one per hub."""

    routes: Mapping[str, RouteConfig]
    board: StatusBoard
    mailbox: Mailbox[Select]
    _strategies: dict[str, Strategy] = field(default_factory=dict)

    def strategy(self, route: str) -> Strategy:
        """The strategy object of ``route`` (created on first use, kept while the actor lives)."""
        strategy = self._strategies.get(route)
        if strategy is None:
            config = self.routes[route]
            strategy = make_strategy(config.strategy, config.deployments)
            self._strategies[route] = strategy
        return strategy

    def select(self, route: str, info: RequestInfo, exclude: frozenset[str]) -> Selection:
        """Pick a deployment now (pure apart from strategy state)."""
        config = route_named(self.routes, route)
        now = trio.current_time()
        ready: list[DeploymentStatus] = []
        skipped: list[tuple[str, str]] = []
        busy_until = float("inf")
        any_busy = slots_full = restarting = False
        recovers = float("inf")
        for status in self.board.snapshot(config.deployments):
            if status.name in exclude:
                continue
            unfit = status.cannot_serve(info)
            if unfit is not None:
                skipped.append((status.name, unfit))
            elif not status.available(now):
                skipped.append((status.name, _why_not(status, now)))
                recovers = min(recovers, _recovers_at(status, now))
                restarting = restarting or not status.up
            elif status.saturated(now):
                any_busy = True
                if status.in_flight < status.max_concurrency:
                    busy_until = min(busy_until, status.rate_limited_until)
                else:
                    slots_full = True
            else:
                ready.append(status)
        if ready:
            chosen = self.strategy(route).choose(ready, info, now)
            if chosen is not None:
                return Choice(chosen.name)
        if any_busy:
            return Busy(busy_until, slots_full)
        return Unavailable(skipped, recovers, restarting)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve the mailbox until cancelled. A bad route name is answered with an error."""
        self._strategies.clear()
        task_status.started()
        async for message in self.mailbox.receive:
            try:
                selection = self.select(message.route, message.info, message.exclude)
            except InvalidRequestError as exc:
                message.reply.set_exception(exc)
            else:
                message.reply.set_result(selection)
