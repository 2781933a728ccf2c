"""One exception tree, rooted at :class:`HubError`.

Provider errors carry the deployment that raised them, the HTTP status where there was one,
the provider's own error type/code, and whether trying again (here or elsewhere) may help.
No message ever contains an API key: codecs build messages from the provider's response
body, and :func:`redact` scrubs anything that looks like a credential on the way in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_SECRET_PATTERNS = re.compile(
    r"(sk-ant-[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}|(?i:(?:api[_-]?key|key)=)[A-Za-z0-9._\-]{8,})"
)


def redact(text: str, *secrets: str) -> str:
    """Replace the given secrets, and anything shaped like an API key, with ``[REDACTED]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return _SECRET_PATTERNS.sub("[REDACTED]", text)


class HubError(Exception):
    """Root of every error hubactors raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: ``type``, ``message`` and the fields subclasses add."""
        return {"type": type(self).__name__, "message": self.message}


class ConfigError(HubError):
    """The configuration is invalid; names the file, the key and the reason."""

    def __init__(self, reason: str, *, file: str | None = None, key: str | None = None) -> None:
        where = ", ".join(x for x in (file, f"key {key!r}" if key else None) if x)
        super().__init__(f"{where}: {reason}" if where else reason)
        self.file = file
        self.key = key
        self.reason = reason


class InvalidRequestError(HubError):
    """The request is malformed; ``field`` names the offending part (e.g. ``messages[2].role``)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class HubClosedError(HubError):
    """The hub is closed (or closing) and takes no new requests."""


class ProviderError(HubError):
    """A deployment failed to serve a request.

    ``retryable`` says whether the same request may succeed if tried again, on this
    deployment after ``retry_after`` seconds or on another one now.
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        deployment: str | None = None,
        provider: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
        error_type: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.deployment = deployment
        self.provider = provider
        self.status = status
        self.retryable = self.default_retryable if retryable is None else retryable
        self.error_type = error_type
        self.code = code
        self.retry_after = retry_after
        self.request_id = request_id

    def __str__(self) -> str:
        prefix = f"[{self.deployment}] " if self.deployment else ""
        status = f"HTTP {self.status}: " if self.status else ""
        return f"{prefix}{status}{self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, deployment={self.deployment!r}, "
            f"status={self.status!r}, retryable={self.retryable!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(
            status=self.status,
            retryable=self.retryable,
            deployment=self.deployment,
            provider=self.provider,
            error_type=self.error_type,
            code=self.code,
            retry_after=self.retry_after,
        )
        return out


class AuthenticationError(ProviderError):
    """The credentials were refused (HTTP 401, or 403 for a key without permission)."""


class PermissionDeniedError(AuthenticationError):
    """The key is valid but not allowed to do this (HTTP 403)."""


class NotFoundError(ProviderError):
    """The model or endpoint does not exist (HTTP 404)."""


class ProviderInvalidRequestError(ProviderError, InvalidRequestError):
    """The provider rejected the request as invalid (HTTP 400, 413, 422)."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        ProviderError.__init__(self, message, **kwargs)
        self.field = None


class ContextLengthError(ProviderInvalidRequestError):
    """The prompt (plus ``max_tokens``) exceeds the model's context window."""


class ContentFilterError(ProviderError):
    """The provider's safety system blocked the prompt or the answer."""


class RateLimitError(ProviderError):
    """Too many requests or tokens (HTTP 429), or a local limit or full queue.

    ``retry_after`` is the number of seconds the provider asked us to wait, when it said.
    """

    default_retryable = True


class ServerError(ProviderError):
    """The provider failed (HTTP 5xx, 529 overloaded, 408/409) or the connection broke."""

    default_retryable = True


class ProviderConnectionError(ServerError):
    """The connection could not be made or broke before a response arrived."""


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time."""

    default_retryable = True


class ConnectTimeoutError(ProviderTimeoutError):
    """No connection within the connect timeout."""


class FirstTokenTimeoutError(ProviderTimeoutError):
    """No first token (or no response headers) within the time-to-first-token timeout."""


class StreamIdleTimeoutError(ProviderTimeoutError):
    """The stream went quiet for longer than the idle timeout."""


class AttemptTimeoutError(ProviderTimeoutError):
    """One attempt took longer than the deployment's ``timeouts.attempt``; another attempt
    (elsewhere) may still answer within the request's deadline."""


class TotalTimeoutError(ProviderTimeoutError):
    """The request's total deadline passed: nothing more will be tried."""

    default_retryable = False


class StreamInterruptedError(ProviderError):
    """A stream broke off before its terminal event.

    ``partial_text`` holds what was delivered; a stream that failed before any content may be
    retried elsewhere, one that had already delivered content may not.
    """

    default_retryable = True

    def __init__(self, message: str, *, partial_text: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.partial_text = partial_text


class CircuitOpenError(ProviderError):
    """The deployment's circuit breaker is open: it is not being sent requests for now."""

    default_retryable = True


class DeploymentCrashedError(ServerError):
    """The deployment's actor crashed while serving the request; it is being restarted."""


class NoDeploymentAvailable(HubError):
    """No deployment of the route could serve the request.

    ``attempts`` lists ``(deployment, reason)`` for everything that was tried or skipped.
    """

    def __init__(self, route: str, attempts: Sequence[tuple[str, str]] = ()) -> None:
        self.route = route
        self.attempts = list(attempts)
        detail = "; ".join(f"{name}: {why}" for name, why in self.attempts) or "none configured"
        super().__init__(f"no deployment of route {route!r} could serve the request ({detail})")

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["attempts"] = [{"deployment": n, "reason": r} for n, r in self.attempts]
        return out


def error_from_status(status: int) -> type[ProviderError]:
    """The error class for an HTTP status, before the provider's body refines it."""
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status in (408, 409) or status >= 500:
        return ServerError
    if 400 <= status < 500:
        return ProviderInvalidRequestError
    return ProviderError
