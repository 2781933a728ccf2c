"""Token estimates: monotone, conservative, and counting every kind of content."""

from __future__ import annotations

import math

import pytest

from hubactors.model._tokens import (
    DEFAULT_OUTPUT_TOKENS,
    HeuristicEstimator,
    TokenEstimator,
    estimate_output_tokens,
    estimate_request_tokens,
)
from hubactors.model._types import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
)

ENGLISH = (
    "The quick brown fox jumps over the lazy dog. Rate limits are enforced per minute, so "
    "the hub reserves an estimate of the tokens a request will use before sending it, and "
    "settles the difference once the provider reports the actual usage of the completion. "
)


def chat(*messages: Message, **fields: object) -> ChatRequest:
    return ChatRequest(model="m", messages=list(messages), **fields)  # type: ignore[arg-type]


def user(content: str | list[object]) -> Message:
    return Message(role="user", content=content)  # type: ignore[arg-type]


def tokens(request: ChatRequest) -> int:
    return estimate_request_tokens(request)


def test_empty_text_costs_nothing_and_any_text_costs_something() -> None:
    est = HeuristicEstimator()
    assert est.text_tokens("") == 0
    assert est.text_tokens("a") == 1


@pytest.mark.parametrize("alphabet", ["abc def ", "日本語のテキスト", "привет мир ", "a😀b"])
def test_text_estimate_never_decreases_as_text_grows(alphabet: str) -> None:
    est = HeuristicEstimator()
    text = alphabet * 50
    counts = [est.text_tokens(text[:n]) for n in range(len(text) + 1)]
    assert counts == sorted(counts)
    assert counts[-1] > counts[len(counts) // 2] > 0


def test_request_estimate_grows_with_message_text() -> None:
    short = tokens(chat(user(ENGLISH)))
    longer = tokens(chat(user(ENGLISH * 2)))
    assert longer > short


@pytest.mark.parametrize("copies", [1, 10, 100])
def test_english_is_over_estimated_slightly_against_four_chars_a_token(copies: int) -> None:
    text = ENGLISH * copies
    reference = math.ceil(len(text) / 4)  # typical BPE rate for English prose
    estimate = HeuristicEstimator().text_tokens(text)
    assert reference <= estimate <= reference * 1.25


def test_whole_request_is_at_least_the_text_reference() -> None:
    text = ENGLISH * 20
    assert tokens(chat(user(text))) >= math.ceil(len(text) / 4) + 4


def test_cjk_counts_about_a_token_per_character() -> None:
    text = "日本語のテキストです" * 30
    assert HeuristicEstimator().text_tokens(text) >= 0.9 * len(text)


def test_lone_surrogates_do_not_break_the_estimate() -> None:
    assert HeuristicEstimator().text_tokens("a\ud800b") > 0


def test_each_message_adds_overhead() -> None:
    one = tokens(chat(user("")))
    two = tokens(chat(user(""), Message(role="assistant", content="")))
    assert two - one == HeuristicEstimator().message_overhead > 0


def test_each_image_costs_the_fixed_image_price() -> None:
    text_only = tokens(chat(user([TextPart("look")])))
    one = tokens(chat(user([TextPart("look"), ImagePart(url="https://x.test/a.png")])))
    two = tokens(
        chat(
            user(
                [
                    TextPart("look"),
                    ImagePart(url="https://x.test/a.png"),
                    ImagePart(data="QUJD", media_type="image/png", detail="low"),
                ]
            )
        )
    )
    assert one - text_only == 1600
    assert two - one == 1600


def test_image_price_is_configurable() -> None:
    request = chat(user([ImagePart(url="https://x.test/a.png")]))
    assert estimate_request_tokens(request, HeuristicEstimator(image_tokens=85)) == (
        tokens(request) - 1600 + 85
    )


def test_tools_are_counted_by_schema_size() -> None:
    base = chat(user("hi"))
    small = chat(user("hi"), tools=[Tool(name="f")])
    properties = {f"field_{i}": {"type": "string", "description": "x" * 40} for i in range(20)}
    big = chat(
        user("hi"),
        tools=[Tool(name="f", parameters={"type": "object", "properties": properties})],
    )
    assert tokens(base) < tokens(small) < tokens(big)
    assert tokens(big) - tokens(base) >= len(str(properties)) / 4


def test_response_format_schema_is_counted() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    with_schema = chat(user("hi"), response_format=ResponseFormat(json_schema=schema))
    assert tokens(with_schema) > tokens(chat(user("hi")))


def test_tool_calls_and_results_are_counted() -> None:
    args = {"query": "weather in Oslo " * 10}
    call = Message(role="assistant", content=[ToolCallPart(id="c1", name="search", arguments=args)])
    answer = Message(role="tool", content=[ToolResultPart(tool_call_id="c1", content=ENGLISH)])
    base = tokens(chat(user("q")))
    with_call = tokens(chat(user("q"), call))
    with_both = tokens(chat(user("q"), call, answer))
    assert with_call - base >= len(args["query"]) / 4
    assert with_both - with_call >= len(ENGLISH) / 4


def test_message_name_is_counted() -> None:
    named = Message(role="user", content="hi", name="alice")
    assert tokens(chat(named)) > tokens(chat(user("hi")))


class Fixed:
    def estimate(self, request: ChatRequest) -> int:
        return 42


def test_a_custom_estimator_is_used_when_given() -> None:
    assert isinstance(Fixed(), TokenEstimator)
    assert isinstance(HeuristicEstimator(), TokenEstimator)
    assert estimate_request_tokens(chat(user("hi")), Fixed()) == 42


def test_output_estimate_is_max_tokens_or_the_default() -> None:
    assert estimate_output_tokens(chat(user("hi"), max_tokens=77)) == 77
    assert estimate_output_tokens(chat(user("hi"))) == DEFAULT_OUTPUT_TOKENS


def test_non_positive_rates_are_refused() -> None:
    with pytest.raises(ValueError):
        HeuristicEstimator(chars_per_token=0)
