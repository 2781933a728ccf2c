"""How the hub calls one deployment: :meth:`DeploymentClient.complete` and
:meth:`~DeploymentClient.open_stream`, each under a lease from the deployment's actor.

This is the one place that stamps what the deployment knows about an answer: its identity
(provider and deployment name) and its price (the cost of the reported usage).
"""

from __future__ import annotations

import math
from contextlib import AsyncExitStack

import msgspec
import trio

from hubactors.actors import ActorRef, ActorStoppedError
from hubactors.deployment._lease import Lease
from hubactors.deployment._state import Admit, DeploymentState
from hubactors.errors import DeploymentCrashedError, HubClosedError, StreamInterruptedError
from hubactors.model._types import (
    CONTENT_EVENTS,
    ChatRequest,
    ChatResponse,
    Finish,
    StreamEvent,
    StreamStart,
    Usage,
    UsageEvent,
)
from hubactors.providers._base import EventSource, StreamCancelledError


class DeploymentClient:
    """Calls one deployment on behalf of the caller's task. Safe to share between tasks."""

    __slots__ = ("_actor", "name", "state")

    def __init__(self, state: DeploymentState) -> None:
        self.state = state
        self.name = state.config.name
        self._actor: ActorRef[Admit] = state.mailbox.ref

    async def lease(self, estimated_tokens: int, deadline: float | None) -> Lease:
        """Wait for the actor's admission: a :class:`Lease`, or its refusal
        (``CooldownError``, ``CircuitOpenError``, ``LocalRateLimitError``), or
        ``HubClosedError`` once the actor is gone for good."""
        try:
            return await self._actor.ask(lambda reply: Admit(estimated_tokens, deadline, reply))
        except ActorStoppedError:
            raise HubClosedError("the hub closed while serving the request") from None

    async def complete(
        self, request: ChatRequest, *, estimated_tokens: int, deadline: float | None
    ) -> ChatResponse:
        """One non-streaming attempt. Raises the provider's ``ProviderError`` (or a local
        refusal); cancellation closes the upstream request."""
        lease = await self.lease(estimated_tokens, deadline)
        with lease.running():
            response = await lease.provider.complete(request)
            lease.succeeded(response.usage, trio.current_time() - lease.started)
        config = self.state.config
        return msgspec.structs.replace(
            response,
            provider=config.provider,
            deployment=config.name,
            cost=lease.provider.cost_of(response.usage),
        )

    async def open_stream(
        self, request: ChatRequest, *, estimated_tokens: int, deadline: float | None
    ) -> UpstreamStream:
        """Open one streaming attempt; read it with :meth:`UpstreamStream.next`, and
        always :meth:`UpstreamStream.aclose` it. Reads after ``deadline`` raise
        ``TotalTimeoutError``."""
        lease = await self.lease(estimated_tokens, deadline)
        stack = AsyncExitStack()
        limit = math.inf if deadline is None else deadline
        try:
            with lease.running():
                events = await stack.enter_async_context(
                    lease.provider.open_stream(request, deadline=limit)
                )
        except BaseException:
            with trio.CancelScope(shield=True):
                await stack.aclose()
            raise
        lease.on_revoke(events.cancel)
        return UpstreamStream(lease, stack, events)


class UpstreamStream:
    """The events of one streamed attempt, read by the caller's task under its lease.

    Stamps the deployment's identity on ``StreamStart`` and the cost on ``UsageEvent``,
    learns the time to first content, and reports the outcome at ``Finish`` (or the
    failure). A stream that ends without its terminal event is an interruption, never a
    success.
    """

    __slots__ = ("_events", "_lease", "_stack", "_ttft", "_usage")

    def __init__(self, lease: Lease, stack: AsyncExitStack, events: EventSource) -> None:
        self._lease = lease
        self._stack = stack
        self._events = events
        self._ttft: float | None = None
        self._usage = Usage()

    @property
    def deployment(self) -> str:
        return self._lease.state.config.name

    @property
    def provider(self) -> str:
        return self._lease.state.config.provider

    @property
    def model(self) -> str:
        return self._lease.state.config.model

    async def next(self) -> StreamEvent:
        """The next event. Raises the provider's error, ``StreamInterruptedError`` when the
        stream ends without its terminal event, ``TotalTimeoutError`` past the request's
        deadline, and ``DeploymentCrashedError`` if the lease is revoked."""
        lease = self._lease
        try:
            event = await self._events.__anext__()
        except StopAsyncIteration:
            error = StreamInterruptedError(
                "the stream ended without its terminal event", deployment=self.deployment
            )
            lease.failed(error)
            raise error from None
        except StreamCancelledError:
            lease.abandon()
            raise lease.revoked or DeploymentCrashedError(
                "the stream was stopped", deployment=self.deployment
            ) from None
        except BaseException as exc:
            raised = lease.settle_error(exc)
            if raised is exc:
                raise
            raise raised from exc
        if self._ttft is None and isinstance(event, CONTENT_EVENTS):
            self._ttft = trio.current_time() - lease.started
            lease.state.ttft.update(self._ttft)
        elif isinstance(event, StreamStart):
            config = lease.state.config
            event = msgspec.structs.replace(event, provider=config.provider, deployment=config.name)
        elif isinstance(event, UsageEvent):
            self._usage = event.usage
            event = msgspec.structs.replace(event, cost=lease.provider.cost_of(event.usage))
        elif isinstance(event, Finish):
            # How long the rest took depends on the answer's length and on how fast the
            # caller reads, so a stream's responsiveness is its time to first content.
            elapsed = trio.current_time() - lease.started
            lease.succeeded(self._usage, self._ttft if self._ttft is not None else elapsed)
        return event

    async def aclose(self) -> None:
        """Close the upstream response (at once, unless it finished: then it is read to its
        end so the connection can be reused); an unfinished attempt learns nothing."""
        with trio.CancelScope(shield=True):
            await self._stack.aclose()
        self._lease.abandon()
