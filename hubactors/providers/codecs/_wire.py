"""Helpers shared by the Anthropic and Gemini codecs.

Tool-call arguments (JSON text, or Vertex ``partialArgs`` fragments addressed by JSON
path), ``data:`` image URLs, decoding provider JSON into typed structs, and the keyword
arguments every provider error carries. Pure functions, no I/O.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, TypeVar

import msgspec

from hubactors.errors import ServerError, redact
from hubactors.providers.codecs._common import Endpoint

T = TypeVar("T")

_DATA_URL = re.compile(r"data:([^;,]+)((?:;[^;,]*)*),(.*)", re.DOTALL)
_PATH_STEP = re.compile(
    r"\.([^.\[\]]+)|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]|\[(\d+)\]"
)


def split_data_url(url: str) -> tuple[str, str] | None:
    """``(media_type, base64 data)`` of a base64 ``data:`` URL, ``None`` for any other URL."""
    match = _DATA_URL.fullmatch(url.strip())
    if match is None or ";base64" not in match.group(2):
        return None
    return match.group(1), match.group(3)


def parse_arguments(text: str) -> dict[str, Any]:
    """The JSON object in ``text`` (empty text is ``{}``).

    Raises ``ValueError`` when ``text`` is not JSON or not a JSON object.
    """
    if not text.strip():
        return {}
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise ValueError(f"tool arguments are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("tool arguments are not a JSON object")
    return value


def encode_arguments(arguments: dict[str, Any]) -> str:
    """Arguments as compact JSON text (what a ``ToolCallDelta`` carries)."""
    return msgspec.json.encode(arguments).decode()


def error_kwargs(endpoint: Endpoint, provider: str) -> dict[str, Any]:
    """The ``deployment``/``provider`` keyword arguments of every error a codec raises."""
    return {"deployment": endpoint.deployment or None, "provider": provider}


def clean_message(message: str, endpoint: Endpoint) -> str:
    """A provider's message with the endpoint's key (and anything key-shaped) redacted."""
    secret = endpoint.api_key.reveal() if endpoint.api_key else ""
    return redact(message, secret)


def decode(
    decoder: msgspec.json.Decoder[T], data: bytes | str, endpoint: Endpoint, provider: str
) -> T:
    """``data`` decoded by ``decoder``; a malformed body raises ``ServerError``."""
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ServerError(
            clean_message(f"malformed {provider} response: {exc}", endpoint),
            error_type="malformed_response",
            **error_kwargs(endpoint, provider),
        ) from None


def body_excerpt(body: bytes, limit: int = 300) -> str:
    """The start of an unparseable body, for an error message."""
    text = body[:limit].decode("utf-8", errors="replace").strip()
    return text + ("..." if len(body) > limit else "")


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
