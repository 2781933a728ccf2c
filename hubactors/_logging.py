"""Structured logs through loguru, scrubbed of secrets before any sink sees them.

As loguru recommends for libraries, hubactors' records are disabled until the application
calls ``logger.enable("hubactors")`` (the CLI does). Every record passes through a patcher
that redacts anything shaped like an API key, in the message and in the bound fields, so no
sink -- however it is configured -- can write a secret.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from loguru import logger as _root_logger

from hubactors.errors import redact

if TYPE_CHECKING:
    from loguru import Record


def _scrub(record: Record) -> None:
    record["message"] = redact(record["message"])
    extra = record["extra"]
    for key, value in extra.items():
        if isinstance(value, str):
            extra[key] = redact(value)


logger = _root_logger.patch(_scrub)
"""The package logger: use ``logger.bind(deployment=...)`` for structured fields."""


def configure_cli_logging(level: str = "WARNING", *, json: bool = False) -> None:
    """Send hubactors' records to stderr (as JSON lines with ``json``); for the CLI."""
    _root_logger.remove()
    _root_logger.enable("hubactors")
    kwargs: dict[str, Any] = {"level": level.upper(), "serialize": json}
    if not json:
        kwargs["format"] = "<dim>{time:HH:mm:ss.SSS}</dim> {level: <7} {message} <dim>{extra}</dim>"
    _root_logger.add(sys.stderr, **kwargs)


# A library stays quiet until the application asks (``logger.enable("hubactors")``).
_root_logger.disable("hubactors")
