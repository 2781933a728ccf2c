"""One structured log record per request, written when it ends; one DEBUG record per attempt.

The record (INFO when served, WARNING when it failed) carries ``request_id`` (the caller's
``metadata["request_id"]``, else a generated one, also set on the response or the error),
``route``, ``deployment``, ``provider``, ``model``, ``attempts`` (each with its deployment,
outcome and duration), ``status``, ``latency_s``, ``ttft_s`` (streams), ``input_tokens``,
``output_tokens``, ``cost``, ``stream`` and ``cached``. Prompts and completions are never
logged. Records pass through the package logger, which scrubs secrets before any sink.

Cheap when nobody listens: nothing is built unless a sink would take the record.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import trio

from hubactors._logging import logger, would_log
from hubactors.errors import AttemptError, HubError, ProviderError
from hubactors.model._types import ChatRequest, ChatResponse

if TYPE_CHECKING:
    from hubactors.hub._event_stream import EventStream
    from hubactors.hub._plan import AttemptPlan, AttemptRecord

_PROCESS = os.urandom(4).hex()
_SEQUENCE = itertools.count(1)

_INFO, _WARNING, _DEBUG = 20, 30, 10


def new_request_id() -> str:
    """A request id unique across processes: this process's random prefix and a counter."""
    return f"{_PROCESS}-{next(_SEQUENCE):x}"


class RequestLog:
    """Collects what one request did and writes its record when :meth:`ends_request` exits."""

    __slots__ = ("_plan", "_request", "_response", "_stream", "request_id", "started")

    def __init__(self, request: ChatRequest, plan: AttemptPlan) -> None:
        self.started = trio.current_time()
        self.request_id = request.metadata.get("request_id") or new_request_id()
        self._request = request
        self._plan = plan
        self._response: ChatResponse | None = None
        self._stream: EventStream | None = None

    def attempt(self, record: AttemptRecord) -> None:
        """One attempt ended (a DEBUG record)."""
        if would_log(_DEBUG):
            logger.bind(
                request_id=self.request_id,
                route=self._request.model,
                deployment=record.deployment,
                outcome=record.outcome,
                duration_s=round(record.duration, 6),
            ).debug("attempt on {} ended: {}", record.deployment, record.outcome)

    def served(self, response: ChatResponse) -> None:
        """The request was answered with ``response``."""
        self._response = response

    def streamed(self, events: EventStream) -> None:
        """The stream the caller read is over."""
        self._stream = events

    @contextmanager
    def ends_request(self) -> Iterator[None]:
        """Around the whole request: writes its one record on the way out, and sets the
        request id on the error that ends it."""
        try:
            yield
        except HubError as exc:
            if exc.request_id is None:
                exc.request_id = self.request_id
            if would_log(_WARNING):
                self._write_failure(exc)
            raise
        except BaseException:
            if would_log(_INFO):
                self._write(_INFO, "cancelled", self._common())
            raise
        else:
            if would_log(_INFO):
                self._write_success()

    # --- records ---------------------------------------------------------------------------

    def _common(self) -> dict[str, Any]:
        plan = self._plan
        return {
            "request_id": self.request_id,
            "route": self._request.model,
            "stream": self._request.stream,
            "cached": False,
            "latency_s": round(trio.current_time() - self.started, 6),
            "attempts": [
                {
                    "deployment": r.deployment,
                    "outcome": r.outcome,
                    "duration_s": round(r.duration, 6),
                }
                for r in plan.records
            ],
        }

    def _write_success(self) -> None:
        fields = self._common()
        response, events = self._response, self._stream
        if response is not None:
            fields.update(
                deployment=response.deployment,
                provider=response.provider,
                model=response.model,
                input_tokens=response.usage.input_tokens,
                output_tokens=response.usage.output_tokens,
                cost=response.cost,
                cached=response.cached,
            )
            self._write(_INFO, "ok", fields)
        elif events is not None:
            fields.update(
                deployment=events.deployment,
                provider=events.provider,
                model=events.model,
                ttft_s=None if events.ttft is None else round(events.ttft, 6),
                input_tokens=events.usage.input_tokens,
                output_tokens=events.usage.output_tokens,
                cost=events.cost,
                cached=events.cached,
            )
            # A caller may stop reading early: that ends the request without a failure.
            self._write(_INFO, "ok" if events.finished else "closed", fields)

    def _write_failure(self, error: HubError) -> None:
        fields = self._common()
        fields["error"] = type(error).__name__
        if isinstance(error, AttemptError):
            fields["deployment"] = error.deployment
        if isinstance(error, ProviderError):
            fields.update(provider=error.provider, http_status=error.status)
        self._write(_WARNING, "error", fields)

    def _write(self, level: int, status: str, fields: dict[str, Any]) -> None:
        fields["status"] = status
        bound = logger.bind(**fields)
        message = "request {} on route {}: {}"
        if level == _WARNING:
            bound.warning(message, self.request_id, self._request.model, status)
        else:
            bound.info(message, self.request_id, self._request.model, status)
