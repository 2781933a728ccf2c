"""``/readyz``: ready while every route has at least one usable deployment.

Usable means its actor runs, its breaker is not open and it is healthy (a half-open breaker
counts: it lets a probe through). A provider cooldown after a 429 does not make a
deployment unusable: it is seconds long and every replica would see it at once.
"""

from __future__ import annotations

from typing import Any

from hubactors import Hub


def _why_unusable(status: Any) -> str | None:
    if not status.up:
        return "restarting"
    if status.breaker == "open":
        return "circuit open"
    if not status.healthy and status.breaker != "half_open":
        return "unhealthy"
    return None


def readiness(hub: Hub) -> tuple[bool, list[str]]:
    """Whether the hub can serve every route, and the reasons when it cannot."""
    statuses = {status.name: status for status in hub.status()}
    routes = [(route.name, route.deployments) for route in hub.config.routes] or [
        (d.name, [d.name])
        for d in hub.config.deployments  # each is a route of its own name
    ]
    reasons: list[str] = []
    for route, deployments in routes:
        why: list[str] = []
        for name in deployments:
            status = statuses.get(name)
            problem = "no status yet" if status is None else _why_unusable(status)
            if problem is None:
                break
            why.append(f"{name}: {problem}")
        else:
            reasons.append(f"route {route!r} has no usable deployment ({'; '.join(why)})")
    return not reasons, reasons
