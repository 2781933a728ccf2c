"""Vertex AI's streamed function-call arguments: ``partialArgs`` fragments addressed by JSON
path, assembled into one arguments object. Pure, no I/O."""

from __future__ import annotations

import itertools
import re
from typing import Any

_PATH_STEP = re.compile(
    r"\.([^.\[\]]+)|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]|\[(\d+)\]"
)


def _json_path(path: str) -> list[str | int]:
    """``"$.a.b[0]['c d']"`` as ``["a", "b", 0, "c d"]``; ``ValueError`` if unsupported."""
    path = path.strip()
    if not path.startswith("$"):
        raise ValueError(f"unsupported JSON path {path!r}")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        match = _PATH_STEP.match(path, pos)
        if match is None:
            raise ValueError(f"unsupported JSON path {path!r}")
        dotted, single, double, index = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            quoted = single if single is not None else double
            steps.append(dotted if dotted is not None else re.sub(r"\\(.)", r"\1", quoted))
        pos = match.end()
    return steps


class PartialArguments:
    """Assembles one function call's arguments from streamed ``partialArgs`` fragments.

    Each fragment sets the value at a JSON path (``"$.key"``, ``"$.a[0].b"``). A string
    fragment whose previous fragment at the same path said ``willContinue`` is appended to
    that string; numbers, booleans and nulls are set as they come.
    """

    __slots__ = ("_continuing", "value")

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self.value: dict[str, Any] = dict(initial or {})
        self._continuing: set[str] = set()

    def add(self, path: str, value: Any, *, is_string: bool, will_continue: bool) -> None:
        """Apply one fragment; raises ``ValueError`` for a path this cannot address."""
        steps = _json_path(path)
        if not steps:
            raise ValueError("a partial argument cannot replace the whole arguments object")
        parent: Any = self.value
        for step, following in itertools.pairwise(steps):
            parent = _child(parent, step, [] if isinstance(following, int) else {})
        last = steps[-1]
        if is_string and path in self._continuing:
            current = _get(parent, last)
            if isinstance(current, str):
                value = current + value
        _put(parent, last, value)
        if will_continue:
            self._continuing.add(path)
        else:
            self._continuing.discard(path)


def _get(container: Any, step: str | int) -> Any:
    if isinstance(step, int):
        return container[step] if isinstance(container, list) and step < len(container) else None
    return container.get(step) if isinstance(container, dict) else None


def _put(container: Any, step: str | int, value: Any) -> None:
    if isinstance(step, int):
        if not isinstance(container, list):
            raise ValueError("JSON path indexes something that is not an array")
        container.extend([None] * (step + 1 - len(container)))
        container[step] = value
    else:
        if not isinstance(container, dict):
            raise ValueError("JSON path names a key of something that is not an object")
        container[step] = value


def _child(container: Any, step: str | int, empty: dict[str, Any] | list[Any]) -> Any:
    current = _get(container, step)
    if isinstance(current, dict | list):
        return current
    _put(container, step, empty)
    return empty
