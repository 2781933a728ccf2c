"""What one hub shares with the other processes, chosen by its config, and the background
tasks that keep it in step with Redis."""

from __future__ import annotations

import trio

from hubactors.config import DeploymentConfig, HubConfig
from hubactors.resilience import RateLimiter
from hubactors.shared._breakers import SharedBreaker, SharedBreakers
from hubactors.shared._budgets import Budgets
from hubactors.shared._limiter import SharedRateLimiter
from hubactors.shared._redis import SharedRedis


class SharedState:
    """The limiters, breaker links and budgets of one hub.

    ``redis`` is the hub's connection, or ``None`` when nothing is shared (then every
    limiter and breaker is per process and budgets are counted in memory). Call
    :meth:`run` in the hub's nursery before the deployments start.
    """

    def __init__(self, config: HubConfig, redis: SharedRedis | None = None) -> None:
        self.config = config
        self.redis = redis
        self.budgets = Budgets.from_config(config, redis)
        self._limiters: list[SharedRateLimiter] = []
        self._breakers = (
            SharedBreakers(redis)
            if redis is not None and config.breakers.scope == "redis"
            else None
        )

    def limiter(self, deployment: DeploymentConfig, now: float) -> RateLimiter:
        """The rate limiter of ``deployment``: shared when ``[limits] scope = "redis"``."""
        if self.redis is None or self.config.limits.scope != "redis":
            return RateLimiter.from_config(deployment, now=now)
        limiter = SharedRateLimiter(deployment, self.redis, now=now)
        self._limiters.append(limiter)
        return limiter

    def breaker(self, deployment: DeploymentConfig) -> SharedBreaker | None:
        """The link of ``deployment``'s breaker, when ``[breakers] scope = "redis"``."""
        if self._breakers is None:
            return None
        return self._breakers.link(deployment.name, deployment.breaker.open_for)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every background task until cancelled; started once the breakers' news is
        subscribed to and the news still current is applied."""
        async with trio.open_nursery() as nursery:
            for limiter in self._limiters:
                nursery.start_soon(limiter.run)
            nursery.start_soon(self.budgets.run)
            if self._breakers is not None:
                await nursery.start(self._breakers.run)
            task_status.started()
