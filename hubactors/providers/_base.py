"""The provider protocol: what a provider actor needs from whatever serves its requests.

Real HTTP providers (a codec plus the shared transport) and the simulated provider both
implement it, so the actor, router and hub never know which one they drive.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

import msgspec

from hubactors.model._types import ChatRequest, ChatResponse, StreamEvent, Usage


class UsageConvention(msgspec.Struct, frozen=True, kw_only=True):
    """How a provider counts tokens, so that cost is right whatever it reports.

    OpenAI counts cached prompt tokens inside ``prompt_tokens`` and reasoning inside
    ``completion_tokens``; Anthropic reports cache reads and writes apart from
    ``input_tokens``; Gemini reports thinking tokens apart from ``candidatesTokenCount``
    (and bills them as output). ``Usage`` keeps each provider's own counts (they are what
    its SDK reports); this says how to bill them.
    """

    input_includes_cached: bool = True
    output_includes_reasoning: bool = True
    cache_write_multiplier: float = 1.25


OPENAI_USAGE = UsageConvention()
"""Cached input inside input, reasoning inside output."""


class Pricing(msgspec.Struct, frozen=True, kw_only=True):
    """US dollars per million tokens."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    cached_input_per_mtok: float | None = None

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        """The cost of one response; cached input is billed at its own price when known."""
        cached_price = (
            self.input_per_mtok
            if self.cached_input_per_mtok is None
            else self.cached_input_per_mtok
        )
        uncached = max(0, input_tokens - cached_input_tokens)
        return (
            uncached * self.input_per_mtok
            + cached_input_tokens * cached_price
            + output_tokens * self.output_per_mtok
        ) / 1_000_000

    def cost_of(self, usage: Usage, convention: UsageConvention = OPENAI_USAGE) -> float:
        """The cost of ``usage`` as counted by a provider with ``convention``."""
        cached = usage.cached_input_tokens
        if convention.input_includes_cached:
            input_tokens = usage.input_tokens
        else:
            input_tokens = usage.input_tokens + cached
        output_tokens = usage.output_tokens
        if not convention.output_includes_reasoning:
            output_tokens += usage.reasoning_tokens
        cache_writes = (
            usage.cache_creation_input_tokens
            * self.input_per_mtok
            * convention.cache_write_multiplier
        )
        return self.cost(input_tokens, output_tokens, cached) + cache_writes / 1_000_000


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a model can do. ``None`` means unknown (a model the catalog does not know):
    the router then assumes it can, and the provider has the last word."""

    context_window: int | None = None
    max_output_tokens: int | None = None
    vision: bool | None = None


class StreamCancelledError(Exception):
    """A provider's stream was stopped by :meth:`EventSource.cancel` (its holder's lease was
    revoked): not the provider's failure."""


class EventSource(Protocol):
    """The events of one open stream: an async iterator that another task may cancel."""

    def __aiter__(self) -> EventSource: ...

    async def __anext__(self) -> StreamEvent: ...

    def cancel(self) -> None:
        """Stop the stream: a read in progress (or the next one) raises
        :class:`StreamCancelledError`."""
        ...


class Provider(Protocol):
    """Serves requests for one deployment. Expected failures raise ``ProviderError``.

    ``stream`` is an async context manager so that leaving it (normally, by error or by
    cancellation) closes the upstream response at once.
    """

    @property
    def kind(self) -> str:
        """The provider name (``"openai"``, ``"simulated"``, ...)."""
        ...

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request`` without streaming (identity, cost and timing left unset: the
        deployment stamps them)."""
        ...

    def open_stream(
        self, request: ChatRequest, *, deadline: float = ...
    ) -> AbstractAsyncContextManager[EventSource]:
        """Stream ``request``: entering opens it, leaving closes it. Reads after
        ``deadline`` (the request's) raise ``TotalTimeoutError``."""
        ...

    async def health_check(self) -> None:
        """Return if the deployment answers; raise ``ProviderError`` if it does not."""
        ...

    def pricing(self) -> Pricing: ...

    def cost_of(self, usage: Usage) -> float:
        """The cost in US dollars of ``usage`` as this provider reports it."""
        ...

    async def aclose(self) -> None: ...
