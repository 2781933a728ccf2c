"""The provider protocol: what a provider actor needs from whatever serves its requests.

Real HTTP providers (a codec plus the shared transport) and the simulated provider both
implement it, so the actor, router and hub never know which one they drive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import msgspec

from hubactors._types import ChatRequest, ChatResponse, StreamEvent


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


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a model can do."""

    context_window: int = 128_000
    max_output_tokens: int | None = None
    tools: bool = True
    vision: bool = False
    streaming: bool = True
    structured_output: bool = True


class Provider(Protocol):
    """Serves requests for one deployment. Expected failures raise ``ProviderError``.

    ``stream`` is an async context manager so that leaving it (normally, by error or by
    cancellation) closes the upstream response at once.
    """

    @property
    def kind(self) -> str:
        """The provider name (``"openai"``, ``"simulated"``, ...)."""
        ...

    async def complete(self, request: ChatRequest) -> ChatResponse: ...

    def stream(
        self, request: ChatRequest
    ) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]: ...

    async def health_check(self) -> None:
        """Return if the deployment answers; raise ``ProviderError`` if it does not."""
        ...

    def capabilities(self) -> Capabilities: ...

    def pricing(self) -> Pricing: ...

    async def aclose(self) -> None: ...
