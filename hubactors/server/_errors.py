"""What a client is told when a request fails: one classification for every surface.

The WebSocket protocol sends :class:`WireError` as is; the OpenAI and Anthropic dialects
reshape it and answer with :func:`http_status`. A failure of an upstream deployment is a
gateway error (502/503/504) for our caller -- even a 401 from the provider: the caller's own
credentials were fine, ours were not.
"""

from __future__ import annotations

import msgspec

from hubactors import (
    CircuitOpenError,
    ContentFilterError,
    HubClosedError,
    HubError,
    InvalidRequestError,
    NoDeploymentAvailable,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
)

CANCELLED = "Cancelled"
"""The error type of a request the client cancelled."""


class WireError(msgspec.Struct, frozen=True, kw_only=True):
    """An error as clients see it: the exception's class name, its message, whether trying
    again may help, and the HTTP status it maps to."""

    type: str
    message: str
    retryable: bool = False
    status: int | None = None


def _rate_limit_of(exc: BaseException) -> RateLimitError | None:
    if isinstance(exc, RateLimitError):
        return exc
    if isinstance(exc, NoDeploymentAvailable) and isinstance(exc.__cause__, RateLimitError):
        return exc.__cause__
    return None


def http_status(exc: BaseException) -> int:
    """The HTTP status that answers a request failing with ``exc``."""
    if isinstance(exc, InvalidRequestError | ContentFilterError):
        return 400
    if _rate_limit_of(exc) is not None:
        return 429
    if isinstance(exc, CircuitOpenError | NoDeploymentAvailable | HubClosedError):
        return 503
    if isinstance(exc, ProviderTimeoutError):
        return 504
    if isinstance(exc, ProviderError):
        return 502
    return 500


def retry_after(exc: BaseException) -> float | None:
    """Seconds the client should wait before trying again, when a rate limit said so."""
    limited = _rate_limit_of(exc)
    return limited.retry_after if limited is not None else None


def is_retryable(exc: BaseException) -> bool:
    """Whether the same request may succeed if sent again (here later, or elsewhere)."""
    if isinstance(exc, ProviderError):
        return exc.retryable
    if isinstance(exc, NoDeploymentAvailable):
        cause = exc.__cause__
        return cause.retryable if isinstance(cause, ProviderError) else True
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
