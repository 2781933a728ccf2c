"""The SSE parser: recorded streams, arbitrary splits, line endings and the event fields."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from hubactors.providers._sse import SSEEvent, SSEParser
from tests.providers._expected import fixture_files

SSE_FIXTURES = [p for p in fixture_files() if p.suffix == ".sse"]


def parse(chunks: list[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return events


def random_split(data: bytes, seed: int, largest: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    pieces, i = [], 0
    while i < len(data):
        n = rng.randint(1, largest)
        pieces.append(data[i : i + n])
        i += n
    return pieces


def payloads(path: Path) -> list[tuple[str, str]]:
    """(event name, data) of each event, read straight off the file's framing."""
    text = path.read_bytes().decode("utf-8").replace("\r\n", "\n")
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((fields.get("event", "message"), fields["data"]))
    return out


@pytest.mark.parametrize("path", SSE_FIXTURES, ids=lambda p: p.name)
def test_every_fixture_parses_to_its_framed_payloads(path: Path) -> None:
    events = parse([path.read_bytes()])
    assert [(e.event, e.data) for e in events] == payloads(path)


@pytest.mark.parametrize("path", SSE_FIXTURES, ids=lambda p: p.name)
def test_random_splits_give_identical_events(path: Path) -> None:
    data = path.read_bytes()
    whole = parse([data])
    for seed in range(25):
        assert parse(random_split(data, seed)) == whole, f"seed {seed}"


@pytest.mark.parametrize("path", SSE_FIXTURES[:4], ids=lambda p: p.name)
def test_byte_by_byte_gives_identical_events(path: Path) -> None:
    data = path.read_bytes()
    assert parse([data[i : i + 1] for i in range(len(data))]) == parse([data])


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_each_line_ending_is_understood(newline: bytes) -> None:
    stream = newline.join([b"event: a", b"data: one", b"", b"data: two", b"", b""])
    expected = [SSEEvent(data="one", event="a"), SSEEvent(data="two")]
    assert parse([stream]) == expected
    for seed in range(20):
        assert parse(random_split(stream, seed, largest=3)) == expected


def test_crlf_split_across_chunks_is_one_line_break() -> None:
    assert parse([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]) == [
        SSEEvent(data="a"),
        SSEEvent(data="b"),
    ]


def test_cr_at_chunk_end_followed_by_data_is_a_line_break() -> None:
    assert parse([b"data: a\r", b"\r", b"data: b\r\r"]) == [SSEEvent(data="a"), SSEEvent(data="b")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert parse([b"data: first\ndata: second\ndata:\n\n"]) == [SSEEvent(data="first\nsecond\n")]


def test_comments_are_ignored() -> None:
    events = parse([b": keep-alive\n\ndata: x\n: inside\ndata: y\n\n:\n\n"])
    assert events == [SSEEvent(data="x\ny")]


def test_event_id_and_retry_fields_are_kept() -> None:
    events = parse([b"event: delta\nid: 7\nretry: 1500\ndata: x\n\ndata: y\n\n"])
    assert events == [
        SSEEvent(data="x", event="delta", id="7", retry=1500),
        # The last event id carries over; the event name and retry do not.
        SSEEvent(data="y", event="message", id="7", retry=None),
    ]


def test_invalid_retry_and_unknown_fields_are_ignored() -> None:
    assert parse([b"retry: soon\nfoo: bar\ndata: x\n\n"]) == [SSEEvent(data="x")]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert parse([b"data:tight\n\ndata:  two spaces\n\n"]) == [
        SSEEvent(data="tight"),
        SSEEvent(data=" two spaces"),
    ]


def test_event_without_data_is_not_dispatched() -> None:
    assert parse([b"event: ping\n\nid: 3\n\n"]) == []


def test_final_event_without_trailing_blank_line_is_dispatched_on_close() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: first\n\ndata: last") == [SSEEvent(data="first")]
    assert parser.close() == [SSEEvent(data="last")]


def test_final_line_ending_without_blank_line_is_dispatched_on_close() -> None:
    assert parse([b"data: last\n"]) == [SSEEvent(data="last")]


def test_utf8_character_split_across_chunks_is_reassembled() -> None:
    stream = "data: héllo € 😀 ÷\n\n".encode()
    expected = [SSEEvent(data="héllo € 😀 ÷")]
    for cut in range(1, len(stream)):
        assert parse([stream[:cut], stream[cut:]]) == expected, f"cut at {cut}"
    assert parse([stream[i : i + 1] for i in range(len(stream))]) == expected


def test_events_are_returned_as_soon_as_complete() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"\n") == [SSEEvent(data="a")]
    assert parser.feed(b"data: b\n\ndata: c\n\nda") == [SSEEvent(data="b"), SSEEvent(data="c")]
    assert parser.feed(b"ta: d\n\n") == [SSEEvent(data="d")]
    assert parser.close() == []


def test_many_events_are_never_dropped_or_duplicated() -> None:
    stream = b"".join(b'id: %d\ndata: {"n": %d}\n\n' % (i, i) for i in range(500))
    for seed in range(10):
        events = parse(random_split(stream, seed, largest=11))
        assert [e.data for e in events] == [f'{{"n": {i}}}' for i in range(500)]
        assert [e.id for e in events] == [str(i) for i in range(500)]


def test_a_leading_byte_order_mark_is_ignored_even_when_split() -> None:
    from hubactors.providers._sse import SSEParser

    body = "\ufeffdata: hi\n\n".encode()
    for cut in range(1, len(body)):
        parser = SSEParser()
        events = parser.feed(body[:cut]) + parser.feed(body[cut:]) + parser.close()
        assert [e.data for e in events] == ["hi"]
