"""Child specifications and the supervisor's bookkeeping for each child."""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import trio

from hubactors.errors import redact


class RestartStrategy(StrEnum):
    """Which children restart when one of them has to (OTP's strategies)."""

    ONE_FOR_ONE = "one_for_one"  # only the child that exited
    ONE_FOR_ALL = "one_for_all"  # every child
    REST_FOR_ONE = "rest_for_one"  # that child and every child after it


class RestartType(StrEnum):
    """When a child that exited is started again."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after it raised
    TEMPORARY = "temporary"  # never


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to run, restart and stop one child.

    ``start`` is called as ``await nursery.start(start)``: it gets a ``task_status``
    keyword, must call ``task_status.started()`` once it is ready (the value it passes is
    what ``Supervisor.start_child`` returns), and runs until the child is done. The
    supervisor waits for that call before doing anything else, so report promptly (or
    fail); raising or returning before it counts as a crash. On a graceful stop the
    supervisor calls ``stop()`` (if given), waits up to ``shutdown`` seconds, then
    cancels the child; with no ``stop`` it cancels at once.
    """

    id: str
    start: Callable[..., Awaitable[object]]
    restart: RestartType = RestartType.PERMANENT
    shutdown: float = 5.0
    stop: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        if self.shutdown < 0:
            raise ValueError(f"child {self.id!r}: shutdown must not be negative")
        # Accept the plain string too ("temporary"); the supervisor compares enum members.
        object.__setattr__(self, "restart", RestartType(self.restart))


class ChildInfo(NamedTuple):
    """One row of ``Supervisor.which_children()``."""

    id: str
    running: bool
    restarts: int


_run_numbers = itertools.count(1)


class Run:
    """One incarnation of a child: its task's cancel scope and how it ended."""

    __slots__ = ("child", "done", "error", "ready", "scope", "seq", "stopping", "value")

    def __init__(self, child: Child) -> None:
        self.child = child
        self.seq = next(_run_numbers)  # start order, for stopping in reverse
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.ready = False
        self.value: object = None
        self.error: Exception | None = None
        self.stopping = False  # the supervisor is stopping it on purpose


class Child:
    """A child's state inside a supervisor run.

    Exactly one of: running (``run`` set, not done), exited awaiting handling (``run`` set
    and done), waiting to restart (``due`` set), finished for good (neither set).
    """

    __slots__ = ("due", "restart_times", "restarts", "run", "spec")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.run: Run | None = None
        self.due: float | None = float("-inf")  # start as soon as possible
        self.restarts = 0
        self.restart_times: deque[float] = deque()

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.ready and not self.run.done.is_set()

    @property
    def live(self) -> bool:
        """Running, starting, exited-but-unhandled, or waiting to restart."""
        return self.run is not None or self.due is not None

    @property
    def exited(self) -> bool:
        return self.run is not None and self.run.done.is_set()

    def recent_restarts(self, now: float, period: float) -> int:
        prune(self.restart_times, now, period)
        return len(self.restart_times)


def next_start(
    children: list[Child], strategy: RestartStrategy, now: float
) -> tuple[Child | None, float]:
    """The child to start now (if any), and when the next restart falls due.

    Under one_for_all and rest_for_one a child never starts before an earlier one is up:
    the first child that is neither up nor finished blocks the ones after it.
    """
    ordered = strategy is not RestartStrategy.ONE_FOR_ONE
    wake = math.inf
    for child in children:
        if child.due is None:
            if ordered and child.exited:
                return None, math.inf  # its exit notice is on its way
            continue
        if child.due <= now:
            return child, now
        if ordered:
            return None, child.due
        wake = min(wake, child.due)
    return None, wake


def restart_group(children: list[Child], strategy: RestartStrategy, child: Child) -> list[Child]:
    """The children that restart together with ``child``, in spec order."""
    if strategy is RestartStrategy.ONE_FOR_ONE:
        return [child]
    live = [c for c in children if c.live or c is child]
    if strategy is RestartStrategy.ONE_FOR_ALL:
        return live
    return live[live.index(child) :]


def prune(times: deque[float], now: float, period: float) -> None:
    """Forget timestamps older than ``period`` seconds."""
    while times and times[0] <= now - period:
        times.popleft()


def describe_error(exc: BaseException | None) -> tuple[str | None, str | None]:
    """``(type name, message)`` for events; a group with one leaf is described by the leaf."""
    if exc is None:
        return None, None
    leaf = _single_leaf(exc)
    try:
        text = str(leaf)
    except Exception:  # a broken __str__ must not break exit reporting
        text = f"<unprintable {type(leaf).__name__}>"
    return type(leaf).__name__, redact(text)


def _single_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
