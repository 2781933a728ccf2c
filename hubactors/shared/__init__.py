"""State shared by hub processes through Redis: the connection layer, and what uses it."""

from hubactors.shared._breakers import BreakerNews, SharedBreaker, SharedBreakers
from hubactors.shared._budgets import Budget, Budgets
from hubactors.shared._limiter import SharedRateLimiter, SharedReservation
from hubactors.shared._redis import FALLBACK, Fallback, SharedRedis, SharedScript, display_url
from hubactors.shared._state import SharedState

__all__ = [
    "FALLBACK",
    "BreakerNews",
    "Budget",
    "Budgets",
    "Fallback",
    "SharedBreaker",
    "SharedBreakers",
    "SharedRateLimiter",
    "SharedRedis",
    "SharedReservation",
    "SharedScript",
    "SharedState",
    "display_url",
]
