"""Token estimates for requests: TPM reservations and cost-aware routing use the same ones.

Rate limits reserve tokens before a request is sent and settle with the provider's usage
afterwards, so the estimate has to be fast (it runs on every request; O(size), no
tokenizer) and conservative: a slight over-estimate only delays a request a little, an
under-estimate lets a burst through that the provider then refuses with HTTP 429. The
cost strategy prices a request with the same input and output estimates, so the size the
router ranks deployments by is the size the rate limiter reserves.

:class:`HeuristicEstimator` accuracy, against BPE tokenizers (cl100k/o200k, Claude, Gemini):

- ASCII text counts ``len / 3.5``: English prose runs ~4 characters per token, so this is
  ~15% high; source code and JSON (~3-3.5) come out about right.
- Non-ASCII text adds one token per 3 extra UTF-8 bytes: CJK (3 bytes, ~1 token a
  character) lands near 0.95 tokens a character, Cyrillic/Greek near 0.6; both at or above
  what the common tokenizers produce.
- Each message adds 4 tokens (role and delimiters), each request 3 (reply priming), each
  tool call or result 8, each tool definition 8 plus its JSON.
- Each image counts 1600 tokens whatever its size or detail: Anthropic's ceiling for a
  1.15 MP image, above OpenAI's high-detail cost of typical images (765 for 1024x1024) and
  Gemini's flat 258. Tiny images are over-counted; that is the conservative side.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import msgspec

from hubactors.model._types import (
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "HeuristicEstimator",
    "TokenEstimator",
    "estimate_output_tokens",
    "estimate_request_tokens",
]

DEFAULT_OUTPUT_TOKENS = 1024
"""Output tokens assumed for a request that sets no ``max_tokens``.

It sits above a typical uncapped chat reply (a few hundred tokens), so a TPM reservation
of this size seldom under-counts (the side that earns a 429), and what it over-counts is
given back when the request settles with its real usage. Cost routing assumes the same
number, so the price it ranks a request by is the price of what the limiter reserves for
it; with ``max_tokens`` set, both use that upper bound instead.
"""


@runtime_checkable
class TokenEstimator(Protocol):
    """Estimates the input (prompt) tokens of a request; must be fast and side-effect free."""

    def estimate(self, request: ChatRequest) -> int: ...


class HeuristicEstimator(msgspec.Struct, frozen=True, kw_only=True):
    """Character-count estimate, tuned to err on the high side (see the module docstring)."""

    chars_per_token: float = 3.5
    extra_bytes_per_token: float = 3.0
    message_overhead: int = 4
    request_overhead: int = 3
    part_overhead: int = 8
    tool_overhead: int = 8
    image_tokens: int = 1600

    def __post_init__(self) -> None:
        if self.chars_per_token <= 0 or self.extra_bytes_per_token <= 0:
            raise ValueError("chars_per_token and extra_bytes_per_token must be positive")

    def text_tokens(self, text: str) -> int:
        """Tokens for a piece of text: non-decreasing in its length, 0 for ``""``."""
        count = len(text) / self.chars_per_token
        if not text.isascii():
            # Every non-ASCII character is 2-4 UTF-8 bytes; its extra bytes stand in for
            # the extra tokens such scripts cost, without a per-character Python loop.
            count += (len(text.encode("utf-8", "surrogatepass")) - len(text)) / (
                self.extra_bytes_per_token
            )
        return math.ceil(count)

    def json_tokens(self, value: object) -> int:
        return math.ceil(len(msgspec.json.encode(value)) / self.chars_per_token)

    def message_tokens(self, message: Message) -> int:
        total = self.message_overhead
        if message.name:
            total += self.text_tokens(message.name) + 1
        if isinstance(message.content, str):
            return total + self.text_tokens(message.content)
        for part in message.content:
            if isinstance(part, TextPart):
                total += self.text_tokens(part.text)
            elif isinstance(part, ImagePart):
                total += self.image_tokens
            elif isinstance(part, ToolCallPart):
                total += self.part_overhead + self.text_tokens(part.name)
                total += self.text_tokens(part.id or "") + self.json_tokens(part.arguments)
            elif isinstance(part, ToolResultPart):
                total += self.part_overhead + self.text_tokens(part.tool_call_id)
                total += self.text_tokens(part.content) + self.text_tokens(part.name or "")
        return total

    def estimate(self, request: ChatRequest) -> int:
        total = self.request_overhead
        for message in request.messages:
            total += self.message_tokens(message)
        for tool in request.tools:
            total += self.tool_overhead + self.text_tokens(tool.name)
            total += self.text_tokens(tool.description or "") + self.json_tokens(tool.parameters)
        fmt = request.response_format
        if fmt is not None and fmt.json_schema is not None:
            total += self.tool_overhead + self.text_tokens(fmt.name)
            total += self.json_tokens(fmt.json_schema)
        return total


_DEFAULT = HeuristicEstimator()


def estimate_request_tokens(request: ChatRequest, estimator: TokenEstimator | None = None) -> int:
    """Estimated input tokens of ``request`` (``estimator`` defaults to the heuristic).

    Output tokens are not included: a TPM reservation is this plus
    :func:`estimate_output_tokens`. Errors raised by a custom estimator propagate.
    """
    return (estimator or _DEFAULT).estimate(request)


def estimate_output_tokens(request: ChatRequest) -> int:
    """The output tokens ``request`` may produce: its ``max_tokens``, else
    :data:`DEFAULT_OUTPUT_TOKENS`. Used for TPM reservations and for cost routing alike."""
    return request.max_tokens if request.max_tokens is not None else DEFAULT_OUTPUT_TOKENS
