"""The routing strategy protocol and what a strategy knows about the request it places.

A strategy only ranks: the router hands it the route's deployments that are available and
not saturated, in route order, and it picks one (or ``None`` when given none). Strategies
are small, synchronous and free of I/O, so they are cheap to call on every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from hubactors.model._tokens import (
    DEFAULT_OUTPUT_TOKENS,
    TokenEstimator,
    estimate_output_tokens,
    estimate_request_tokens,
)
from hubactors.model._types import ChatRequest, ImagePart
from hubactors.routing._status import DeploymentStatus


class RequestInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What strategies may weigh about a request: its size and whether it streams.

    ``estimated_output_tokens`` is the request's ``max_tokens``, or
    :data:`~hubactors.model._tokens.DEFAULT_OUTPUT_TOKENS` when it set none: the same
    figure its TPM reservation counts.
    """

    estimated_input_tokens: int = 0
    estimated_output_tokens: int = DEFAULT_OUTPUT_TOKENS
    stream: bool = False
    images: bool = False

    @classmethod
    def from_request(
        cls, request: ChatRequest, estimator: TokenEstimator | None = None
    ) -> RequestInfo:
        """Describe ``request``; its input size comes from ``estimator`` (default: heuristic),
        its output size from :func:`~hubactors.model._tokens.estimate_output_tokens`.

        Errors raised by a custom estimator propagate.
        """
        return cls(
            estimated_input_tokens=estimate_request_tokens(request, estimator),
            estimated_output_tokens=estimate_output_tokens(request),
            stream=request.stream,
            images=has_images(request),
        )


class Strategy(Protocol):
    """Picks one deployment out of the candidates for a request.

    ``candidates`` are already filtered to available, unsaturated deployments, in route
    order; ``now`` is ``trio.current_time()``. Returns ``None`` only for no candidates.
    Implementations never raise and never block.
    """

    name: str

    def choose(
        self, candidates: Sequence[DeploymentStatus], info: RequestInfo, now: float
    ) -> DeploymentStatus | None: ...


def has_images(request: ChatRequest) -> bool:
    """Whether any message of ``request`` carries an image."""
    for message in request.messages:
        content = message.content
        if not isinstance(content, str) and any(isinstance(p, ImagePart) for p in content):
            return True
    return False
