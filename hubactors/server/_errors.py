"""What a client is told when a request fails: one classification for every surface.

The WebSocket protocol sends :class:`WireError` as is; the OpenAI and Anthropic dialects
reshape it and answer with :func:`http_status`. A failure of an upstream deployment is a
gateway error (502/503/504) for our caller -- even a 401 from the provider: the caller's own
credentials were fine, ours were not.
"""

from __future__ import annotations

import msgspec

from hubactors import (
    AttemptError,
    ContentFilterError,
    CooldownError,
    HubClosedError,
    HubError,
    InvalidRequestError,
    LocalError,
    LocalRateLimitError,
    NoDeploymentAvailable,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    TotalTimeoutError,
)

CANCELLED = "Cancelled"
"""The error type of a request the client cancelled."""

_LIMITED = (RateLimitError, LocalRateLimitError, CooldownError)


class WireError(msgspec.Struct, frozen=True, kw_only=True):
    """An error as clients see it: the exception's class name, its message, whether trying
    again may help, and the HTTP status it maps to."""

    type: str
    message: str
    retryable: bool = False
    status: int | None = None


def _rate_limit_of(exc: BaseException) -> AttemptError | None:
    """The rate limit behind ``exc`` (itself, or what the last failover attempt met)."""
    if isinstance(exc, NoDeploymentAvailable):
        exc = exc.__cause__ if exc.__cause__ is not None else exc
    return exc if isinstance(exc, _LIMITED) else None


def http_status(exc: BaseException) -> int:
    """The HTTP status that answers a request failing with ``exc``."""
    if isinstance(exc, InvalidRequestError | ContentFilterError):
        return 400
    if _rate_limit_of(exc) is not None:
        return 429
    if isinstance(exc, TotalTimeoutError | ProviderTimeoutError):
        return 504
    if isinstance(exc, ProviderError):
        return 502
    if isinstance(exc, LocalError | NoDeploymentAvailable | HubClosedError):
        return 503
    return 500


def retry_after(exc: BaseException) -> float | None:
    """Seconds the client should wait before trying again, when a rate limit said so."""
    limited = _rate_limit_of(exc)
    return limited.retry_after if limited is not None else None


def is_retryable(exc: BaseException) -> bool:
    """Whether the same request may succeed if sent again (here later, or elsewhere)."""
    if isinstance(exc, AttemptError):
        return exc.retryable
    if isinstance(exc, NoDeploymentAvailable):
        cause = exc.__cause__
        return cause.retryable if isinstance(cause, AttemptError) else True
    return isinstance(exc, HubClosedError)


def wire_error(exc: BaseException) -> WireError:
    """``exc`` as clients see it; an unexpected exception says no more than that it was one."""
    if not isinstance(exc, HubError):
        return WireError(type="InternalError", message="internal server error", status=500)
    return WireError(
        type=type(exc).__name__,
        message=exc.message,
        retryable=is_retryable(exc),
        status=http_status(exc),
    )


def cancelled_error() -> WireError:
    """The final frame of a request the client cancelled."""
    return WireError(type=CANCELLED, message="cancelled by the client")


def shutting_down() -> HubClosedError:
    """Why a request is refused, or cut at the end of the grace, while the server drains."""
    return HubClosedError("the server is shutting down")
