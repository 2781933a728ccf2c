"""Structured logs through loguru, scrubbed of secrets before any sink sees them.

As loguru recommends for libraries, hubactors' records are disabled until the application
calls ``logger.enable("hubactors")`` (the CLI does). Every record passes through a patcher
that redacts every piece of a registered key and anything shaped like one: in the message,
in every bound field (nested in dicts, lists and tuples too) and in the exception chain of
the record, so no sink -- however it is configured -- can write a secret. One exception:
loguru's ``diagnose=True`` prints the values of a traceback's local variables, which no
patcher can reach; give your sinks ``diagnose=False`` in production (the CLI does).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from loguru import logger as _root_logger

from hubactors.errors import redact, scrub_exception

if TYPE_CHECKING:
    from loguru import Record

_PLAIN = (int, float, bool, type(None))
_MAX_DEPTH = 16


def _clean(value: Any, depth: int = 0) -> Any:
    """``value`` with every string in it redacted; exceptions are scrubbed in place."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, BaseException):
        return scrub_exception(value)
    kind = type(value)
    if depth < _MAX_DEPTH:
        if kind is dict:
            return {_clean(k, depth + 1): _clean(v, depth + 1) for k, v in value.items()}
        if kind in (list, tuple, set, frozenset):
            return kind(_clean(v, depth + 1) for v in value)
    # Anything else reaches a sink as its str() or repr(): keep it unless those leak.
    text, shown = str(value), repr(value)
    if redact(text) == text and redact(shown) == shown:
        return value
    return redact(shown)


def _scrub(record: Record) -> None:
    record["message"] = redact(record["message"])
    extra = record["extra"]
    for key, value in extra.items():
        extra[key] = _clean(value)
    exception = record["exception"]
    if exception is not None and exception.value is not None:
        scrub_exception(exception.value)


logger = _root_logger.patch(_scrub)
"""The package logger: use ``logger.bind(deployment=...)`` for structured fields."""


def configure_cli_logging(level: str = "WARNING", *, json: bool = False) -> None:
    """Send hubactors' records to stderr (as JSON lines with ``json``); for the CLI."""
    _root_logger.remove()
    _root_logger.enable("hubactors")
    # diagnose=False: loguru would print traceback locals, which the patcher cannot scrub.
    kwargs: dict[str, Any] = {"level": level.upper(), "serialize": json, "diagnose": False}
    if not json:
        kwargs["format"] = "<dim>{time:HH:mm:ss.SSS}</dim> {level: <7} {message} <dim>{extra}</dim>"
    _root_logger.add(sys.stderr, **kwargs)


def would_log(level_no: int, name: str = "hubactors") -> bool:
    """Whether a record of ``level_no`` from package ``name`` would reach any sink, so the
    hot path builds no record nobody takes. Reads loguru's activation state (the same rule
    loguru applies: the most specific enabled/disabled prefix wins); if that state is not
    where this loguru keeps it, it answers ``True`` and loguru decides."""
    core = getattr(_root_logger, "_core", None)
    try:
        if core.min_level > level_no:  # type: ignore[union-attr]
            return False
        dotted = name + "."
        for prefix, enabled in core.activation_list:  # type: ignore[union-attr]
            if dotted.startswith(prefix):
                return bool(enabled)
    except (AttributeError, TypeError):
        return True
    return True


# A library stays quiet until the application asks (``logger.enable("hubactors")``).
_root_logger.disable("hubactors")
