"""The helpers every codec shares, and the policies they decide once for all codecs."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from hubactors.errors import (
    AuthenticationError,
    ConfigError,
    ContextLengthError,
    InvalidRequestError,
    ProviderInvalidRequestError,
    ServerError,
    StreamInterruptedError,
)
from hubactors.model._types import ChatRequest, FinishReason, Message, StreamStart
from hubactors.providers.codecs._common import (
    DEFAULT_BASE_URLS,
    RAW_ARGUMENTS,
    Codec,
    Endpoint,
    Secret,
    api_key_of,
    body_excerpt,
    clean_message,
    context_length_or,
    decode,
    decode_or_none,
    encode_arguments,
    encode_body,
    error_kwargs,
    first_header,
    inline_data,
    normalize_finish,
    parse_arguments,
    request_headers,
    status_message,
    stream_interrupted,
    stream_start,
)
from hubactors.providers.codecs.anthropic import CODEC as ANTHROPIC
from hubactors.providers.codecs.gemini import CODEC as GEMINI
from hubactors.providers.codecs.openai import AZURE, COMPATIBLE, OPENAI

KEY = "test-common-key-not-real-0042"
ENDPOINT = Endpoint(
    provider="openai",
    model="m",
    base_url="https://api.example.test/v1",
    api_key=Secret(KEY),
    deployment="primary",
)
CODECS: dict[str, Codec] = {"openai": OPENAI, "anthropic": ANTHROPIC, "gemini": GEMINI}
REQUEST = ChatRequest(model="r", messages=[Message(role="user", content="hi")])


def endpoint(provider: str = "openai", **changes: Any) -> Endpoint:
    return msgspec.structs.replace(ENDPOINT, provider=provider, **changes)


# --- the endpoint: base URL and key --------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(DEFAULT_BASE_URLS))
def test_an_endpoint_without_base_url_goes_to_the_providers_default(provider: str) -> None:
    assert endpoint(provider, base_url="").base_url == DEFAULT_BASE_URLS[provider]


@pytest.mark.parametrize("provider", ["azure", "openai-compatible"])
def test_a_provider_without_a_default_needs_a_base_url(provider: str) -> None:
    with pytest.raises(ConfigError, match="deployment 'primary': base_url is required") as info:
        endpoint(provider, base_url="")
    assert info.value.key == "base_url"


def test_a_trailing_slash_is_dropped_once_for_every_codec() -> None:
    assert endpoint(base_url="https://gw.example/v1/").base_url == "https://gw.example/v1"
    urls = {
        name: codec.build_request(REQUEST, endpoint(name, base_url="https://gw.example/")).url
        for name, codec in CODECS.items()
    }
    assert all("//" not in url.removeprefix("https://") for url in urls.values()), urls


def test_api_key_of_reveals_the_key_or_gives_empty_text() -> None:
    assert api_key_of(ENDPOINT) == KEY
    assert api_key_of(endpoint(api_key=None)) == ""


# --- building requests ---------------------------------------------------------------------


def test_deployment_headers_win_over_the_codecs_own_and_its_key() -> None:
    ep = endpoint(headers={"Accept": "text/plain", "Authorization": "Gateway abc"})
    defaults = {"Accept": "application/json", "X-A": "1"}
    assert request_headers(ep, defaults, "Authorization", "Bearer ") == {
        "Accept": "text/plain",
        "X-A": "1",
        "Authorization": "Gateway abc",
    }
    assert request_headers(endpoint(), defaults, "x-key") == {**defaults, "x-key": KEY}
    assert request_headers(endpoint(api_key=None), defaults, "x-key") == defaults


@pytest.mark.parametrize(
    ("name", "key_header"),
    [("openai", "Authorization"), ("anthropic", "x-api-key"), ("gemini", "x-goog-api-key")],
)
def test_every_codec_lets_deployment_headers_override_its_key_header(
    name: str, key_header: str
) -> None:
    ep = endpoint(name, headers={key_header: "from-config"})
    assert CODECS[name].build_request(REQUEST, ep).headers[key_header] == "from-config"
    assert key_header in CODECS[name].build_request(REQUEST, endpoint(name)).headers


def test_extra_body_is_laid_over_the_body() -> None:
    ep = endpoint(extra_body={"b": 3, "c": {"d": 1}})
    assert msgspec.json.decode(encode_body({"a": 1, "b": 2}, ep)) == {"a": 1, "b": 3, "c": {"d": 1}}


def test_inline_data_splits_a_data_url_and_leaves_other_urls() -> None:
    assert inline_data("data:image/png;base64,iVBORw==", "f") == ("image/png", "iVBORw==")
    assert inline_data("DATA:image/gif;base64,R0lG", "f") == ("image/gif", "R0lG")
    assert inline_data("https://example.test/cat.png", "f") is None


@pytest.mark.parametrize(
    "url", ["data:image/png,plain", "data:image/png;base64", "data:;base64,AA=="]
)
def test_a_malformed_data_url_is_an_invalid_request_naming_the_field(url: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        inline_data(url, "messages[0].content[1]")
    assert info.value.field == "messages[0].content[1]"


# --- tool calls and finish reasons ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        ("", {}),
        ("  \n", {}),
        ('{"city": "Paris", "n": [1, 2]}', {"city": "Paris", "n": [1, 2]}),
        ('{"city": "Par', {RAW_ARGUMENTS: '{"city": "Par'}),
        ("[1, 2]", {RAW_ARGUMENTS: "[1, 2]"}),
        ('"Paris"', {RAW_ARGUMENTS: '"Paris"'}),
        ("not json", {RAW_ARGUMENTS: "not json"}),
    ],
)
def test_arguments_that_are_not_an_object_are_kept_raw(text: str, arguments: Any) -> None:
    assert RAW_ARGUMENTS == "_raw"
    assert parse_arguments(text) == arguments


def test_encoded_arguments_are_compact_json_that_parses_back() -> None:
    arguments = {"q": "caf\u00e9", "n": [1, 2.5, None, True]}
    text = encode_arguments(arguments)
    assert " " not in text.replace("caf\u00e9", "")
    assert parse_arguments(text) == arguments


TABLE = {"done": FinishReason.STOP, "cut": FinishReason.LENGTH, "tool": FinishReason.TOOL_CALLS}


@pytest.mark.parametrize(
    ("raw", "has_calls", "reason"),
    [
        ("done", False, FinishReason.STOP),
        ("cut", False, FinishReason.LENGTH),
        ("tool", True, FinishReason.TOOL_CALLS),
        ("something-new", False, FinishReason.STOP),
        (None, False, FinishReason.STOP),
        ("done", True, FinishReason.TOOL_CALLS),
        (None, True, FinishReason.TOOL_CALLS),
        ("cut", True, FinishReason.LENGTH),
    ],
)
def test_finish_reasons_are_normalized_and_tool_calls_never_stop(
    raw: str | None, has_calls: bool, reason: FinishReason
) -> None:
    assert normalize_finish(TABLE, raw, has_calls) is reason


# --- errors --------------------------------------------------------------------------------


def test_error_kwargs_name_the_deployment_and_provider() -> None:
    assert error_kwargs(ENDPOINT) == {"deployment": "primary", "provider": "openai"}
    assert error_kwargs(endpoint("azure", deployment="")) == {
        "deployment": None,
        "provider": "azure",
    }


def test_clean_message_redacts_the_endpoints_key() -> None:
    assert clean_message(f"bad key {KEY}!", ENDPOINT) == "bad key [REDACTED]!"


def test_body_excerpt_is_short_tag_free_and_redacted() -> None:
    page = b"<html><title>502 Bad Gateway</title>\n<p>key " + KEY.encode() + b"</p>"
    page += b"<p>nginx</p>" * 400
    excerpt = body_excerpt(page, ENDPOINT)
    assert excerpt.startswith("502 Bad Gateway key [REDACTED]")
    assert "<" not in excerpt and "\n" not in excerpt and KEY not in excerpt
    assert excerpt.endswith("...") and len(excerpt) <= 163
    assert body_excerpt("  short  text ", ENDPOINT) == "short text"


def test_status_message_is_the_phrase_and_an_excerpt() -> None:
    assert status_message(502, b"<h1>upstream down</h1>", ENDPOINT) == "Bad Gateway: upstream down"
    assert status_message(503, b"  ", ENDPOINT) == "Service Unavailable"
    assert status_message(599, b"", ENDPOINT) == "error"


@pytest.mark.parametrize("name", sorted(CODECS))
def test_every_codec_words_a_non_json_error_body_the_same_way(name: str) -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"<p>nginx</p>" * 500
    error = CODECS[name].parse_error(502, {}, page, endpoint(name))
    assert type(error) is ServerError
    assert error.message.startswith("Bad Gateway: 502 Bad Gateway nginx")
    assert "<" not in error.message and len(error.message) < 200
    assert (error.status, error.provider, error.deployment) == (502, name, "primary")


@pytest.mark.parametrize(
    "message",
    [
        "This model's maximum context length is 8192 tokens",  # OpenAI
        "prompt is too long: 210000 tokens > 200000 maximum",  # Anthropic
        "input length exceeds the context window",
        "The input token count (1200000) exceeds the maximum number of tokens allowed",  # Gemini
    ],
)
def test_an_invalid_request_saying_the_prompt_is_too_long_is_a_context_length_error(
    message: str,
) -> None:
    assert context_length_or(ProviderInvalidRequestError, message) is ContextLengthError


def test_context_length_or_leaves_other_errors_and_messages_alone() -> None:
    assert (
        context_length_or(ProviderInvalidRequestError, "bad param") is ProviderInvalidRequestError
    )
    assert context_length_or(AuthenticationError, "prompt is too long") is AuthenticationError


def test_first_header_ignores_case_and_takes_names_in_order() -> None:
    headers = {"APIM-Request-Id": "az-1", "X-Request-ID": "req-1", "empty": ""}
    assert first_header(headers, "x-request-id", "apim-request-id") == "req-1"
    assert first_header(headers, "request-id", "apim-request-id") == "az-1"
    assert first_header(headers, "empty", "missing") is None


# --- decoding ------------------------------------------------------------------------------


class _Wire(msgspec.Struct):
    id: str
    n: int = 0


WIRE = msgspec.json.Decoder(_Wire)


def test_decode_returns_the_struct() -> None:
    assert decode(WIRE, b'{"id": "a", "n": 2}', ENDPOINT) == _Wire(id="a", n=2)
    assert decode(WIRE, '{"id": "b"}', ENDPOINT) == _Wire(id="b")


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b'{"n": 1}', b'{"id": 5}', b""])
def test_a_body_that_does_not_decode_is_a_malformed_response_server_error(body: bytes) -> None:
    with pytest.raises(ServerError) as info:
        decode(WIRE, body + KEY.encode(), ENDPOINT)
    error = info.value
    assert error.error_type == "malformed_response"
    assert (error.provider, error.deployment, error.retryable) == ("openai", "primary", True)
    assert error.message.startswith("malformed openai response (")
    assert KEY not in error.message and "<" not in error.message


def test_decode_or_none_gives_none_for_what_does_not_decode() -> None:
    assert decode_or_none(WIRE, b'{"id": "a"}') == _Wire(id="a")
    assert decode_or_none(WIRE, b"<html>") is None
    assert decode_or_none(WIRE, b"[]") is None


# --- streams -------------------------------------------------------------------------------


def test_stream_start_leaves_identity_to_the_deployment() -> None:
    assert stream_start(endpoint("azure"), "id-1", "gpt") == StreamStart(id="id-1", model="gpt")
    assert stream_start(endpoint("azure"), "id-1", "").model == "m"


def test_stream_interrupted_names_the_endpoint_and_leaves_the_text_to_the_hub() -> None:
    error = stream_interrupted(ENDPOINT, "ended early")
    assert isinstance(error, StreamInterruptedError)
    assert (error.message, error.partial_text) == ("ended early", "")
    assert (error.provider, error.deployment, error.retryable) == ("openai", "primary", True)


@pytest.mark.parametrize("codec", [OPENAI, AZURE, COMPATIBLE, ANTHROPIC, GEMINI])
def test_every_codec_stamps_streams_with_the_endpoints_provider(codec: Codec) -> None:
    ep = endpoint("custom-name")
    decoder = codec.stream_decoder(ep)
    with pytest.raises(StreamInterruptedError) as info:
        decoder.close()
    assert (info.value.provider, info.value.deployment) == ("custom-name", "primary")
