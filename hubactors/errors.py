"""One exception tree, rooted at :class:`HubError`.

Provider errors carry the deployment that raised them, the HTTP status where there was one,
the provider's own error type/code, and whether trying again (here or elsewhere) may help.
No message ever contains a piece of an API key: every key the process holds is registered
(:func:`register_secret`, called by ``Secret``), every error's message and fields pass
through :func:`redact` when the error is built, and :func:`scrub_exception` cleans the whole
cause/context chain where errors leave the hub.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Container, Iterable, Sequence
from typing import Any

REDACTED = "[REDACTED]"
WINDOW = 8
"""No run of this many consecutive characters of a registered key survives :func:`redact`."""
MAX_SECRETS = 4096
"""Distinct keys remembered; past this the least recently registered one is forgotten."""

_GRAM, _STRIDE = 5, 4  # the pre-check's pieces: _GRAM + _STRIDE - 1 <= WINDOW
_MEMO_TEXT, _MEMO_SIZE = 200, 4096  # texts up to this long are remembered, this many at most

_SECRET_PATTERNS = re.compile(
    # Key shapes, whether or not the key is registered here. The lookahead lets the many
    # positions where no shape can start fail at their first character.
    r"(?=[sAabBkK])(sk-ant-[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}|(?i:(?:api[_-]?key|key)=)[A-Za-z0-9._\-]{8,}"
    # Provider-masked forms: OpenAI's "sk-abc1************wxyz", Google's "AIza...****".
    r"|(?<![A-Za-z0-9])(?:sk-|AIza)[A-Za-z0-9_\-]*(?:(?:\*+|\u2026|\.{3})[A-Za-z0-9_\-]*)+)"
)


class _SecretRegistry:
    """The values of every key this process holds, as sets of their 8-character windows.

    Scanning a text is one pass over its windows, each a set lookup, and a cheaper pass
    before it decides whether that one is needed (see :meth:`scrub`). A value registered
    twice is one entry; only strings are kept, never the objects that held them.
    """

    def __init__(self, limit: int = MAX_SECRETS) -> None:
        self._limit = limit
        self._values: dict[str, None] = {}  # insertion order: least recently registered first
        self._windows: dict[str, int] = {}  # window -> how many registered values contain it
        self._grams: dict[str, int] = {}  # the same for 5-character pieces (the pre-check)
        self._short: tuple[str, ...] = ()  # values shorter than a window: matched whole
        self._lock = threading.Lock()
        # Short texts redacted so far (log fields repeat: routes, names, outcomes); replaced,
        # not cleared, when a key is added, so a redaction racing the change is dropped.
        self.memo: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def add(self, value: str) -> None:
        if not value:
            return
        with self._lock:
            if value in self._values:
                # Refresh: a key still being loaded is not the one to forget.
                del self._values[value]
                self._values[value] = None
                return
            self._values[value] = None
            self._count(value, 1)
            while len(self._values) > self._limit:
                oldest = next(iter(self._values))
                del self._values[oldest]
                self._count(oldest, -1)
            self.memo = {}

    def _count(self, value: str, step: int) -> None:
        if len(value) < WINDOW:
            short = set(self._short)
            if step > 0:
                short.add(value)
            else:
                short.discard(value)
            # Longest first, so a key that contains another is replaced whole.
            self._short = tuple(sorted(short, key=len, reverse=True))
            return
        for counts, size in ((self._windows, WINDOW), (self._grams, _GRAM)):
            for piece in _pieces(value, size):
                left = counts.get(piece, 0) + step
                if left > 0:
                    counts[piece] = left
                else:
                    counts.pop(piece, None)

    def scrub(self, text: str, extra: Iterable[str] = ()) -> str:
        """``text`` with every span made of registered (or ``extra``) windows replaced."""
        windows: Container[str] = self._windows
        short = self._short
        extra_windows: set[str] = set()
        for value in extra:
            if len(value) < WINDOW:
                short = (*short, value)
            else:
                extra_windows.update(_pieces(value, WINDOW))
        for value in short:
            if value in text:
                text = text.replace(value, REDACTED)
        n = len(text) - WINDOW + 1
        if n <= 0:
            return text
        if extra_windows:
            with self._lock:  # copied while no other thread adds a key
                windows = extra_windows | self._windows.keys()
        elif not self._might_hold_a_window(text):
            return text
        hits = [i for i in range(n) if text[i : i + WINDOW] in windows]
        if not hits:
            return text
        parts: list[str] = []
        start, end, done = hits[0], hits[0] + WINDOW, 0
        for i in hits:
            if i > end:  # a gap: close the span so far
                parts += (text[done:start], REDACTED)
                done, start = end, i
            end = i + WINDOW
        parts += (text[done:start], REDACTED, text[end:])
        return "".join(parts)

    def _might_hold_a_window(self, text: str) -> bool:
        # Any 8 characters of a key in the text contain a 5-character piece of that key
        # starting at a multiple of 4 (one of 4 consecutive starts, each with 5 characters
        # still inside the 8). Looking up only those is a quarter of the work of the full
        # pass, which then runs only for the rare text that passes.
        grams = self._grams
        return any(text[i : i + _GRAM] in grams for i in range(0, len(text) - _GRAM + 1, _STRIDE))


def _pieces(value: str, size: int) -> set[str]:
    return {value[i : i + size] for i in range(len(value) - size + 1)}


_REGISTRY = _SecretRegistry()


def register_secret(value: str) -> None:
    """Remember ``value`` as a key: from now on :func:`redact` removes any 8 characters of it.

    Cheap to call again for the same value (it is one entry). Keys shorter than 8
    characters are removed only whole.
    """
    _REGISTRY.add(value)


def redact(text: str, *secrets: str) -> str:
    """``text`` without any piece of a registered key, of ``secrets``, or anything key-shaped.

    Every run of 8 characters found in a key, and any overlapping runs around it, become one
    ``[REDACTED]``; so do key shapes (``sk-...``, ``AIza...``, ``Bearer ...``, ``key=...``)
    and the masked forms providers echo (``sk-abc1****wxyz``).
    """
    if not text:
        return text
    extra = [s for s in secrets if s and s not in _REGISTRY] if secrets else ()
    if extra:
        return _REGISTRY.scrub(_SECRET_PATTERNS.sub(REDACTED, text), extra)
    memo = _REGISTRY.memo
    cleaned = memo.get(text)
    if cleaned is None:
        # Shapes first: a masked key is replaced whole, not cut at a registered key's prefix.
        cleaned = _REGISTRY.scrub(_SECRET_PATTERNS.sub(REDACTED, text))
        if len(text) <= _MEMO_TEXT:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[text] = cleaned
    return cleaned


def scrub_exception(exc: BaseException) -> BaseException:
    """Redact ``exc`` and everything reachable from it, in place; returns ``exc``.

    Walks ``__cause__``, ``__context__``, exception-group members and notes. Our own errors
    have their string fields redacted again (a key may have been registered since they were
    built); other exceptions have their ``args`` redacted.
    """
    _scrub_chain(exc, set())
    return exc


def _scrub_chain(exc: BaseException, seen: set[int]) -> None:
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        _scrub_one(current, seen)
        todo += (e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            todo += current.exceptions


def _scrub_one(exc: BaseException, seen: set[int]) -> None:
    # Mutating an exception in flight is otherwise avoided; here it is the only way. The
    # objects in a chain are linked by identity (``__cause__``, ``__context__``, group
    # members, the traceback the caller will print), so a redacted copy would leave the
    # original reachable; and a foreign class cannot be rebuilt generically (its __init__
    # is its own). ``args`` is what ``str``, ``repr`` and tracebacks print, and nothing
    # downstream needs a key in it.
    args = _redact_value(exc.args, seen)
    if args != exc.args:
        exc.args = args
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        notes[:] = [_redact_value(note, seen) for note in notes]
    if isinstance(exc, HubError):
        fields = vars(exc)
        for name, value in list(fields.items()):
            cleaned = _redact_value(value, seen)
            if cleaned is not value:
                fields[name] = cleaned


def _redact_value(value: Any, seen: set[int]) -> Any:
    """Strings redacted inside tuples, lists and dicts; exceptions scrubbed in place."""
    if isinstance(value, str):
        cleaned = redact(value)
        return value if cleaned == value else cleaned
    if isinstance(value, BaseException):
        _scrub_chain(value, seen)
        return value
    if type(value) in (tuple, list, dict):
        if id(value) in seen:
            return value
        seen.add(id(value))
        if isinstance(value, dict):
            items = {k: _redact_value(v, seen) for k, v in value.items()}
            changed = any(items[k] is not v for k, v in value.items())
            return items if changed else value
        cleaned_items = [_redact_value(v, seen) for v in value]
        if all(a is b for a, b in zip(cleaned_items, value, strict=True)):
            return value
        return tuple(cleaned_items) if isinstance(value, tuple) else cleaned_items
    return value


def _clean(value: str | None) -> str | None:
    return None if value is None else redact(value)


class HubError(Exception):
    """Root of every error hubactors raises on purpose.

    The message is redacted (:func:`redact`) when the error is built. ``request_id`` is the
    provider's or the hub's identifier of the request, when one is known; it may be set
    after construction and is redacted too.
    """

    def __init__(self, message: str) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self._request_id: str | None = None

    @property
    def request_id(self) -> str | None:
        """The request's identifier (the provider's ``x-request-id``, say), or ``None``."""
        return self._request_id

    @request_id.setter
    def request_id(self, value: str | None) -> None:
        self._request_id = _clean(value)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: ``type``, ``message``, ``request_id`` when known, and
        the fields subclasses add."""
        out: dict[str, Any] = {"type": type(self).__name__, "message": self.message}
        if self._request_id is not None:
            out["request_id"] = self._request_id
        return out


class ConfigError(HubError):
    """The configuration is invalid; names the file, the key and the reason."""

    def __init__(self, reason: str, *, file: str | None = None, key: str | None = None) -> None:
        where = ", ".join(x for x in (file, f"key {key!r}" if key else None) if x)
        super().__init__(f"{where}: {reason}" if where else reason)
        self.file = _clean(file)
        self.key = _clean(key)
        self.reason = redact(reason)


class InvalidRequestError(HubError):
    """The request is malformed; ``field`` names the offending part (e.g. ``messages[2].role``)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = _clean(field)


class HubClosedError(HubError):
    """The hub is closed (or closing) and takes no new requests."""


class AttemptError(HubError):
    """One attempt on one deployment failed.

    ``retryable`` says whether the same request may succeed if tried again, on this
    deployment after ``retry_after`` seconds or on another one now. The two branches:
    :class:`ProviderError` (what a provider answered, or talking to it failed) and
    :class:`LocalError` (the hub itself held the attempt back or lost it).
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        deployment: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        # Not redacted: it names what hubactors addresses, from the validated config (the
        # same name labels the metrics), and must stay exact to be matched.
        self.deployment = deployment
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        prefix = f"[{self.deployment}] " if self.deployment else ""
        return f"{prefix}{self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, deployment={self.deployment!r}, "
            f"retryable={self.retryable!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(
            status=None,
            retryable=self.retryable,
            deployment=self.deployment,
            retry_after=self.retry_after,
        )
        return out


class ProviderError(AttemptError):
    """A provider answered with an error, or the connection to it failed.

    Carries the HTTP ``status`` where there was one and the provider's own ``error_type``
    and ``code``.
    """

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
        super().__init__(
            message, deployment=deployment, retryable=retryable, retry_after=retry_after
        )
        self.provider = provider  # a name from the config, like ``deployment``
        self.status = status
        # What came from the wire is redacted like the message.
        self.error_type = _clean(error_type)
        self.code = _clean(code)
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
            provider=self.provider,
            error_type=self.error_type,
            code=self.code,
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


class StreamInterruptedError(ProviderError):
    """A stream broke off before its terminal event.

    ``partial_text`` holds what was delivered; a stream that failed before any content may be
    retried elsewhere, one that had already delivered content may not.
    """

    default_retryable = True

    def __init__(self, message: str, *, partial_text: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.partial_text = partial_text


class LocalError(AttemptError):
    """The hub held an attempt back, or lost it itself: no provider answered.

    A provider's ``Retry-After`` still running (:class:`CooldownError`), an open circuit
    breaker (:class:`CircuitOpenError`), a local rate limit or full queue
    (:class:`LocalRateLimitError`), or the deployment's actor crashing
    (:class:`DeploymentCrashedError`). Retryable unless said otherwise: another deployment
    (or this one later) may serve.
    """

    default_retryable = True


class CooldownError(LocalError):
    """The deployment is resting after a provider's rate limit (its ``Retry-After``)."""


class CircuitOpenError(LocalError):
    """The deployment's circuit breaker is open: it is not being sent requests for now."""


class LocalRateLimitError(LocalError):
    """The hub's own rate limits (or the route's queue) could not admit the request in
    time; ``retry_after`` is the estimated wait."""


class DeploymentCrashedError(LocalError):
    """The deployment's actor crashed (or stopped) while serving the request; it is being
    restarted."""


class SharedStateUnavailableError(LocalError):
    """Redis, where this hub shares its state with other processes, is down or too slow and
    the config says ``on_error = "closed"``: the request is refused rather than served
    without the shared cache, limits or breakers. Not retryable on another deployment (they
    all need Redis); the hub reconnects by itself."""

    default_retryable = False


class BudgetExceededError(LocalError):
    """A spend budget (``budget_usd_per_day`` or ``budget_usd_per_month``) of the route or
    of the deployment is used up: nothing was sent. Retryable for a deployment's budget
    (another deployment of the route may serve), not for a route's."""

    default_retryable = False


class TotalTimeoutError(HubError):
    """The request's total deadline passed: nothing more will be tried."""

    retryable = False

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(status=None, retryable=False)
        return out


class NoDeploymentAvailable(HubError):
    """No deployment of the route could serve the request.

    ``attempts`` lists ``(deployment, reason)`` for everything that was tried or skipped.
    """

    def __init__(self, route: str, attempts: Sequence[tuple[str, str]] = ()) -> None:
        # The route is the caller's text; reasons are built from other errors' messages.
        self.route = redact(route)
        self.attempts = [(name, redact(why)) for name, why in attempts]
        detail = "; ".join(f"{name}: {why}" for name, why in self.attempts) or "none configured"
        super().__init__(
            f"no deployment of route {self.route!r} could serve the request ({detail})"
        )

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
