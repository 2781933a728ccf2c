"""The simulated provider: a deterministic stand-in for an LLM API, and the embedded default.

It needs no network and no key, and behaves like a real provider under stress: latency drawn
from a distribution, scheduled outages, rate limits, server errors and outright crashes, all
at configured rates (see :class:`~hubactors.config.SimulationConfig`). Everything follows
from the seed: each provider owns one ``random.Random`` and every request draws its fate
from it in arrival order, so a run replays exactly. All waiting is ``trio.sleep``, so tests
on ``trio.testing.MockClock`` run in no real time.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Literal, NamedTuple

import msgspec
import trio

from hubactors.config import DeploymentConfig
from hubactors.errors import (
    ProviderInvalidRequestError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    TotalTimeoutError,
)
from hubactors.model._types import (
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    NamedToolChoice,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallComplete,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from hubactors.providers._base import EventSource, Pricing, StreamCancelledError
from hubactors.providers._catalog import pricing_for

PROVIDER = "simulated"
PROBE_DELAY = 0.001
"""Seconds a successful health check takes."""

Outcome = Literal["ok", "crash", "rate_limit", "error", "outage"]

_WORDS = (
    "signal", "river", "amber", "lattice", "quiet", "harbor", "orbit", "meadow", "copper",
    "vector", "lantern", "summit", "ember", "canvas", "tide", "prism", "willow", "beacon",
    "granite", "echo", "cascade", "thread", "horizon", "pebble", "falcon", "marble", "cipher",
    "grove", "delta", "ridge", "spark", "atlas",
)  # fmt: skip


class SimulatedCrash(RuntimeError):
    """A simulated bug: raised at ``crash_rate`` to crash the provider actor.

    Deliberately not a ``ProviderError``, so it is not handled as a failed call but takes
    the actor down and exercises supervision and restarts.
    """

    def __init__(self, deployment: str) -> None:
        super().__init__(f"simulated crash in deployment {deployment!r}")
        self.deployment = deployment


class _Fate(NamedTuple):
    """What happens to one request, drawn when it arrives."""

    number: int
    outcome: Outcome
    latency: float  # the drawn total latency of a completion
    scale: float  # latency / mean, applied to time-to-first-token for streams
    error: Exception | None


class _Reply(NamedTuple):
    """The content of one successful answer."""

    pieces: list[str]  # text, one piece per simulated token ("word", " word", ...)
    tool_call: ToolCall | None
    usage: Usage
    finish: FinishReason


class SimulatedProvider:
    """Serves one deployment from its ``simulation`` settings; implements ``Provider``.

    ``started_at`` is the ``trio.current_time()`` that outage windows count from; by default
    the time the provider is created (inside Trio) or its first call. ``incarnation`` mixes
    into the seed so a restarted provider does not replay its predecessor's fates exactly
    (0, the default, uses the seed as is).
    """

    def __init__(
        self,
        deployment: DeploymentConfig,
        *,
        started_at: float | None = None,
        incarnation: int = 0,
    ) -> None:
        self._deployment = deployment
        self._sim = deployment.simulation
        seed = self._sim.seed
        self._rng = random.Random(seed if incarnation == 0 else f"{seed}/{incarnation}")
        self._incarnation = incarnation
        if started_at is None:
            # Outside Trio there is no clock yet: it then starts on first use.
            with contextlib.suppress(RuntimeError):
                started_at = trio.current_time()
        self._started_at = started_at
        self._requests = 0
        self._pricing = pricing_for(deployment)

    @property
    def kind(self) -> str:
        return PROVIDER

    @property
    def requests(self) -> int:
        """How many requests (completions and streams) arrived so far."""
        return self._requests

    def pricing(self) -> Pricing:
        return self._pricing

    async def aclose(self) -> None:
        """Nothing to release."""

    def in_outage(self, now: float | None = None) -> bool:
        """Whether ``now`` (default: the current Trio time) falls in a scheduled outage."""
        if now is None:
            now = trio.current_time()
        if self._started_at is None:
            self._started_at = now
        elapsed = now - self._started_at
        return any(o.start <= elapsed < o.start + o.duration for o in self._sim.outages)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer after the drawn latency.

        Raises ``ServerError`` (503) during an outage and ``RateLimitError`` (429, with the
        configured ``retry_after``) at once; ``ServerError`` (500) after the latency;
        ``SimulatedCrash`` at once. Cancellation interrupts the wait.
        """
        fate = self._arrive()
        if fate.error is not None and fate.outcome != "error":
            await trio.lowlevel.checkpoint()
            raise fate.error
        reply = await self._checked_reply(request, fate)
        await trio.sleep(fate.latency)
        if fate.error is not None:
            raise fate.error
        return ChatResponse(
            id=self._response_id(fate),
            model=self._deployment.model,
            text="".join(reply.pieces),
            tool_calls=[reply.tool_call] if reply.tool_call else [],
            finish_reason=reply.finish,
            raw_finish_reason=reply.finish.value,
            usage=reply.usage,
        )

    @contextlib.asynccontextmanager
    async def open_stream(
        self, request: ChatRequest, *, deadline: float = math.inf
    ) -> AsyncIterator[EventSource]:
        """Open a stream; its fate is drawn now, on arrival.

        The iterator yields ``StreamStart``, then (after ``ttft``, scaled like the drawn
        latency) one ``TextDelta`` per token ``inter_token_delay`` apart -- or a tool call --
        then ``UsageEvent`` and ``Finish``. Failures raise from the iterator before
        ``StreamStart``, as in :meth:`complete`; an outage beginning mid-stream raises
        ``StreamInterruptedError``. Leaving the block stops it.
        """
        events = self._events(request, self._arrive())
        try:
            yield _Cancellable(events, deadline)
        finally:
            await events.aclose()

    async def health_check(self) -> None:
        """Return after :data:`PROBE_DELAY`; raise ``ServerError`` (503) during an outage.

        Probes draw nothing from the seeded sequence, so probing never shifts request fates.
        """
        if self.in_outage():
            await trio.lowlevel.checkpoint()
            raise self._outage_error()
        await trio.sleep(PROBE_DELAY)

    # --- fates -----------------------------------------------------------------------------

    def _arrive(self) -> _Fate:
        # Always draw the same amount per request, whatever happens, so the k-th request's
        # fate depends only on the seed and k.
        self._requests += 1
        roll = self._rng.random()
        latency = self._draw_latency()
        mean = self._sim.latency
        scale = latency / mean if mean > 0 else 1.0
        outcome = self._outcome(roll)
        error = self._error(outcome)
        return _Fate(self._requests, outcome, latency, scale, error)

    def _outcome(self, roll: float) -> Outcome:
        sim = self._sim
        if self.in_outage():
            return "outage"
        threshold = sim.crash_rate
        if roll < threshold:
            return "crash"
        threshold += sim.rate_limit_rate
        if roll < threshold:
            return "rate_limit"
        threshold += sim.error_rate
        if roll < threshold:
            return "error"
        return "ok"

    def _draw_latency(self) -> float:
        sim = self._sim
        mean = max(0.0, sim.latency)
        jitter = max(0.0, sim.jitter)
        if sim.distribution == "fixed":
            return mean
        if sim.distribution == "uniform":
            return max(0.0, self._rng.uniform(mean - jitter, mean + jitter))
        if mean == 0.0:
            return 0.0
        # Choose mu so the distribution's mean is `mean`: E[X] = exp(mu + sigma^2 / 2).
        return self._rng.lognormvariate(math.log(mean) - jitter * jitter / 2, jitter)

    def _error(self, outcome: Outcome) -> Exception | None:
        name = self._deployment.name
        if outcome == "outage":
            return self._outage_error()
        if outcome == "crash":
            return SimulatedCrash(name)
        if outcome == "rate_limit":
            return RateLimitError(
                "simulated rate limit",
                deployment=name,
                provider=PROVIDER,
                status=429,
                retry_after=self._sim.retry_after,
            )
        if outcome == "error":
            return ServerError(
                "simulated server error", deployment=name, provider=PROVIDER, status=500
            )
        return None

    def _outage_error(self) -> ServerError:
        return ServerError(
            "simulated outage", deployment=self._deployment.name, provider=PROVIDER, status=503
        )

    # --- answers ---------------------------------------------------------------------------

    def _response_id(self, fate: _Fate) -> str:
        return f"sim-{self._deployment.name}-{self._incarnation}-{fate.number}"

    def _cost(self, usage: Usage) -> float:
        return self._pricing.cost(usage.input_tokens, usage.output_tokens)

    def cost_of(self, usage: Usage) -> float:
        """The cost of ``usage`` at this deployment's prices."""
        return self._cost(usage)

    async def _checked_reply(self, request: ChatRequest, fate: _Fate) -> _Reply:
        # An invalid request is refused at once, but still at a checkpoint like any call.
        try:
            return self._reply(request, fate)
        except ProviderInvalidRequestError:
            await trio.lowlevel.checkpoint()
            raise

    def _reply(self, request: ChatRequest, fate: _Fate) -> _Reply:
        input_tokens = max(1, sum(len(m.text) for m in request.messages) // 4)
        call = self._tool_call(request, fate)
        if call is not None:
            size = len(call.name) + len(msgspec.json.encode(call.arguments))
            usage = Usage(input_tokens=input_tokens, output_tokens=max(1, size // 4))
            return _Reply([], call, usage, FinishReason.TOOL_CALLS)
        tokens = self._sim.output_tokens
        finish = FinishReason.STOP
        if request.max_tokens is not None and request.max_tokens < tokens:
            tokens, finish = max(0, request.max_tokens), FinishReason.LENGTH
        words = self._words(request, tokens)
        pieces = [w if i == 0 else f" {w}" for i, w in enumerate(words)]
        usage = Usage(input_tokens=input_tokens, output_tokens=tokens)
        return _Reply(pieces, None, usage, finish)

    def _words(self, request: ChatRequest, tokens: int) -> list[str]:
        if self._sim.reply is not None:
            words = self._sim.reply.split()
            return words[:tokens] if tokens < self._sim.output_tokens else words
        prompt = next((m.text for m in reversed(request.messages) if m.role == "user"), "")
        # A private rng keyed by seed and prompt: the same question gets the same answer,
        # and the text never consumes draws from the fate sequence.
        rng = random.Random(f"{self._sim.seed}|{prompt}")
        words = [rng.choice(_WORDS) for _ in range(tokens)]
        if words:
            words[0] = words[0].capitalize()
            words[-1] += "."
        return words

    def _tool_call(self, request: ChatRequest, fate: _Fate) -> ToolCall | None:
        choice = request.tool_choice
        if not request.tools or not (choice == "required" or isinstance(choice, NamedToolChoice)):
            return None
        tool = request.tools[0]
        if isinstance(choice, NamedToolChoice):
            named = [t for t in request.tools if t.name == choice.name]
            if not named:
                raise ProviderInvalidRequestError(
                    f"tool_choice names unknown tool {choice.name!r}",
                    deployment=self._deployment.name,
                    provider=PROVIDER,
                    status=400,
                )
            tool = named[0]
        call_id = f"call_sim_{self._incarnation}_{fate.number}"
        return ToolCall(id=call_id, name=tool.name, arguments=_arguments_for(tool.parameters))

    async def _events(self, request: ChatRequest, fate: _Fate) -> AsyncGenerator[StreamEvent, None]:
        sim = self._sim
        ttft = sim.ttft * fate.scale
        if fate.error is not None:
            # A server error takes as long as a first token would; the rest fail at once.
            await trio.sleep(ttft if fate.outcome == "error" else 0)
            raise fate.error
        reply = await self._checked_reply(request, fate)
        yield StreamStart(id=self._response_id(fate), model=self._deployment.model)
        await trio.sleep(ttft)
        if self.in_outage():
            raise self._interrupted()
        if reply.tool_call is not None:
            call = reply.tool_call
            arguments = msgspec.json.encode(call.arguments).decode()
            yield ToolCallDelta(index=0, id=call.id, name=call.name, arguments=arguments)
            yield ToolCallComplete(index=0, tool_call=call)
        for index, piece in enumerate(reply.pieces):
            if index:
                await trio.sleep(sim.inter_token_delay)
                if self.in_outage():
                    raise self._interrupted()
            yield TextDelta(piece)
        yield UsageEvent(reply.usage)
        yield Finish(finish_reason=reply.finish, raw_finish_reason=reply.finish.value)

    def _interrupted(self) -> StreamInterruptedError:
        return StreamInterruptedError(
            "simulated outage interrupted the stream",
            deployment=self._deployment.name,
            provider=PROVIDER,
            status=503,
        )


def _arguments_for(schema: dict[str, Any]) -> dict[str, Any]:
    """Placeholder arguments for the schema's required properties (nested objects too)."""
    properties = schema.get("properties")
    required = schema.get("required")
    if not isinstance(properties, dict) or not isinstance(required, list):
        return {}
    return {key: _placeholder(properties.get(key)) for key in required if isinstance(key, str)}


def _placeholder(prop: Any) -> Any:
    if not isinstance(prop, dict):
        return None
    if "const" in prop:
        return prop["const"]
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return _arguments_for(prop)
    defaults: dict[str, Any] = {"string": "sim", "integer": 0, "number": 0.0, "boolean": False}
    if kind == "array":
        return []
    return defaults.get(kind) if isinstance(kind, str) else None


class _Cancellable:
    """The simulated events as an :class:`EventSource`: each wait under the request's
    deadline, and cancellable from another task."""

    __slots__ = ("_cancelled", "_deadline", "_events", "_scope")

    def __init__(self, events: AsyncGenerator[StreamEvent, None], deadline: float) -> None:
        self._events = events
        self._deadline = deadline
        self._scope: trio.CancelScope | None = None
        self._cancelled = False

    def __aiter__(self) -> _Cancellable:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._cancelled:
            raise StreamCancelledError("the stream was cancelled")
        with trio.CancelScope(deadline=self._deadline) as scope:
            self._scope = scope
            try:
                return await self._events.__anext__()
            finally:
                self._scope = None
        if self._cancelled:
            raise StreamCancelledError("the stream was cancelled")
        raise TotalTimeoutError("the request's deadline passed mid-stream")

    def cancel(self) -> None:
        self._cancelled = True
        if self._scope is not None:
            self._scope.cancel()
