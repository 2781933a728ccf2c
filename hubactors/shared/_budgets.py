"""Spend budgets: running totals of US dollars per route and per deployment, per UTC day and
calendar month, checked before a request is sent.

The totals live in Redis when the hub has it (every process adds to the same keys with
``INCRBYFLOAT``), else in this process's memory. Checks never wait on the network: each
process keeps a view of the totals that its own spending updates at once and that a
background task refreshes from Redis every :data:`REFRESH` seconds, so another process's
spend is seen within that time. A request is refused once a total has reached its budget;
the cost of a request is known only after it, so the requests in flight when a budget runs
out may take the total a little past it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

import msgspec
import trio

from hubactors._logging import logger
from hubactors.config import HubConfig
from hubactors.errors import BudgetExceededError, SharedStateUnavailableError
from hubactors.shared._redis import FALLBACK, Fallback, SharedRedis, SharedScript

Period = Literal["day", "month"]
Scope = Literal["route", "deployment"]

REFRESH = 0.5
"""Seconds between two reads of every process's totals from Redis."""

_KEEP = {"day": 2 * 86400, "month": 32 * 86400}
"""How long a period's total outlives its start (seconds): long enough to be read."""


class Budget(msgspec.Struct, frozen=True):
    """One cap: ``usd`` per ``period`` on the route or deployment called ``name``."""

    scope: Scope
    name: str
    period: Period
    usd: float


def period_label(period: Period, wall: float) -> str:
    """The UTC day (``2026-12-01``) or month (``2026-12``) that Unix time ``wall`` is in."""
    when = time.gmtime(wall)
    if period == "day":
        return f"{when.tm_year:04d}-{when.tm_mon:02d}-{when.tm_mday:02d}"
    return f"{when.tm_year:04d}-{when.tm_mon:02d}"


def budgets_of(config: HubConfig) -> list[Budget]:
    """Every budget the config sets."""
    found: list[Budget] = []
    owners: list[tuple[Scope, str, float | None, float | None]] = [
        ("route", r.name, r.budget_usd_per_day, r.budget_usd_per_month) for r in config.routes
    ]
    owners += [
        ("deployment", d.name, d.budget_usd_per_day, d.budget_usd_per_month)
        for d in config.deployments
    ]
    for scope, name, day, month in owners:
        if day is not None:
            found.append(Budget(scope, name, "day", day))
        if month is not None:
            found.append(Budget(scope, name, "month", month))
    return found


class Budgets:
    """The spend budgets of one hub, in Redis when ``redis`` is given, else in memory.

    :meth:`refusal` and :meth:`record` never await; :meth:`run` (started by the hub) writes
    the spending to Redis and reads back every process's totals. With Redis down, spending
    is still counted here and checked against the budgets; it is added to Redis when it is
    back, so none is lost for as long as the process lives.
    """

    def __init__(
        self,
        budgets: list[Budget],
        redis: SharedRedis | None = None,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._budgets: dict[tuple[Scope, str], list[Budget]] = {}
        for budget in budgets:
            self._budgets.setdefault((budget.scope, budget.name), []).append(budget)
        self._redis = redis
        self._wall = wall
        self._spent: dict[str, float] = {}  # key -> the total as last known
        self._unsent: dict[str, float] = {}  # key -> spend not yet added in Redis
        self._wake = trio.Event()
        self._script: SharedScript | None = None

    @classmethod
    def from_config(cls, config: HubConfig, redis: SharedRedis | None = None) -> Budgets:
        return cls(budgets_of(config), redis)

    def __bool__(self) -> bool:
        return bool(self._budgets)

    def _key(self, scope: Scope, name: str, period: Period, wall: float) -> str:
        label = period_label(period, wall)
        if self._redis is not None:
            return self._redis.key("budget", scope, name, period, label)
        return f"{scope}:{name}:{period}:{label}"

    def spent(self, scope: Scope, name: str, period: Period) -> float:
        """This process's view of the total spent on ``name`` in the current ``period``."""
        return self._spent.get(self._key(scope, name, period, self._wall()), 0.0)

    def refusal(
        self, scope: Scope, name: str
    ) -> BudgetExceededError | SharedStateUnavailableError | None:
        """The error for a request to ``name`` while one of its budgets is used up, or
        while Redis, which holds the totals, is unavailable and ``on_error = "closed"``."""
        budgets = self._budgets.get((scope, name))
        if not budgets:
            return None
        redis = self._redis
        if redis is not None and not redis.available and redis.config.on_error == "closed":
            return SharedStateUnavailableError(
                f"the {scope} {name!r} has a spend budget and its totals in Redis are "
                'unavailable (redis.on_error = "closed")'
            )
        wall = self._wall()
        for budget in budgets:
            spent = self._spent.get(self._key(scope, name, budget.period, wall), 0.0)
            if spent >= budget.usd:
                return BudgetExceededError(
                    f"the {scope} {name!r} spent ${spent:.4g} of its ${budget.usd:g} budget "
                    f"this {budget.period}",
                    deployment=name if scope == "deployment" else None,
                    retryable=scope == "deployment",
                )
        return None

    def record(self, route: str, deployment: str, cost: float) -> None:
        """Add ``cost`` (US dollars) to the totals of ``route`` and ``deployment``."""
        if cost <= 0 or not math.isfinite(cost):
            return
        wall = self._wall()
        owners: tuple[tuple[Scope, str], ...] = (("route", route), ("deployment", deployment))
        for owner in owners:
            for budget in self._budgets.get(owner, ()):
                name = owner[1]
                key = self._key(budget.scope, name, budget.period, wall)
                self._spent[key] = self._spent.get(key, 0.0) + cost
                if self._redis is not None:
                    self._unsent[key] = self._unsent.get(key, 0.0) + cost
        if self._unsent:
            self._wake.set()

    async def run(self) -> None:
        """Keep the totals in step with Redis until cancelled (nothing to do without it)."""
        if self._redis is None or not self._budgets:
            return
        while True:
            await self._sync()
            with trio.move_on_after(REFRESH):
                await self._wake.wait()
            self._wake = trio.Event()

    async def _sync(self) -> None:
        redis = self._redis
        assert redis is not None
        if self._script is None:
            self._script = redis.script(_SYNC)
        unsent, self._unsent = self._unsent, {}
        wall = self._wall()
        keys: list[str] = []
        args: list[str | float | int] = []
        for budgets in self._budgets.values():
            for b in budgets:
                key = self._key(b.scope, b.name, b.period, wall)
                keys.append(key)
                args += [unsent.pop(key, 0.0), _KEEP[b.period]]
        failure: Exception | None = None
        try:
            totals = await self._script(keys, args)
        except SharedStateUnavailableError as exc:
            totals, failure = FALLBACK, exc
        if isinstance(totals, Fallback):
            # Redis is down or slow: keep counting here, and add it there later.
            for key, cost in zip(keys, args[::2], strict=True):
                if cost:
                    self._unsent[key] = self._unsent.get(key, 0.0) + float(cost)
            logger.debug("budget totals not synced with Redis: {}", failure or "unavailable")
            return
        for key, total in zip(keys, totals, strict=True):
            # Spend recorded while the call was out is not in Redis yet: keep it counted.
            self._spent[key] = float(total) + self._unsent.get(key, 0.0)


_SYNC = """
local totals = {}
for i, key in ipairs(KEYS) do
  local add = tonumber(ARGV[2 * i - 1])
  if add > 0 then
    totals[i] = redis.call('INCRBYFLOAT', key, add)
    redis.call('EXPIRE', key, ARGV[2 * i])
  else
    totals[i] = redis.call('GET', key) or '0'
  end
end
return totals
"""
"""KEYS: the budget totals. ARGV: for each, the spend to add (0: none) and its lifetime in
seconds. Returns every total."""
