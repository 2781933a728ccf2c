import msgspec
import pytest

from hubactors.resilience import RateLimitHeaders, parse_rate_limit_headers

OPENAI = {
    "X-RateLimit-Limit-Requests": "500",
    "X-RateLimit-Limit-Tokens": "30000",
    "X-RateLimit-Remaining-Requests": "499",
    "X-RateLimit-Remaining-Tokens": "29000",
    "X-RateLimit-Reset-Requests": "120ms",
    "X-RateLimit-Reset-Tokens": "6m0s",
}

ANTHROPIC = {
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "49",
    "anthropic-ratelimit-requests-reset": "2024-06-01T12:00:30Z",
    "anthropic-ratelimit-input-tokens-limit": "40000",
    "anthropic-ratelimit-input-tokens-remaining": "39000",
    "anthropic-ratelimit-input-tokens-reset": "2024-06-01T12:00:01.5Z",
    "anthropic-ratelimit-output-tokens-limit": "8000",
    "anthropic-ratelimit-output-tokens-remaining": "8000",
    "anthropic-ratelimit-output-tokens-reset": "2024-06-01T12:00:00Z",
}
# 2024-06-01T12:00:00Z as a Unix time.
NOON = 1717243200.0


def test_openai_headers_any_case_with_go_durations() -> None:
    parsed = parse_rate_limit_headers(OPENAI)
    assert parsed.requests_reset == pytest.approx(0.12)
    assert msgspec.structs.replace(parsed, requests_reset=None) == RateLimitHeaders(
        requests_limit=500,
        requests_remaining=499,
        tokens_limit=30000,
        tokens_remaining=29000,
        tokens_reset=360.0,
    )


def test_anthropic_headers_with_rfc3339_resets() -> None:
    parsed = parse_rate_limit_headers(ANTHROPIC, wall_now=NOON)
    assert parsed.requests_limit == 50
    assert parsed.requests_remaining == 49
    assert parsed.requests_reset == pytest.approx(30.0)
    assert parsed.input_tokens_limit == 40000
    assert parsed.input_tokens_remaining == 39000
    assert parsed.input_tokens_reset == pytest.approx(1.5)
    assert parsed.output_tokens_limit == 8000
    assert parsed.output_tokens_reset == 0.0
    assert parsed.tokens_limit is None


def test_reset_in_the_past_is_zero() -> None:
    parsed = parse_rate_limit_headers(ANTHROPIC, wall_now=NOON + 100)
    assert parsed.requests_reset == 0.0


def test_malformed_values_are_ignored() -> None:
    parsed = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "lots",
            "x-ratelimit-remaining-requests": "-3",
            "x-ratelimit-reset-requests": "soon",
            "anthropic-ratelimit-tokens-reset": "2024-06-01T12:00:00",  # no time zone
        },
        wall_now=NOON,
    )
    assert parsed.is_empty()


def test_unrelated_headers_give_an_empty_result() -> None:
    assert parse_rate_limit_headers({"content-type": "application/json"}).is_empty()
    assert not parse_rate_limit_headers(OPENAI).is_empty()
