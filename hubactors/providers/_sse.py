"""An incremental Server-Sent Events parser (bytes in, events out).

Follows the WHATWG event-stream rules: lines end in CRLF, LF or CR; ``data:`` lines of one
event are joined with ``\\n``; lines starting with ``:`` are comments; ``event:``, ``id:``
and ``retry:`` are kept; a blank line dispatches the event. Correct for any split of the
byte stream, including a CRLF split across two chunks and a UTF-8 character split across
two chunks. :meth:`SSEParser.close` dispatches a final event that had no trailing blank line.
"""

from __future__ import annotations

import codecs

import msgspec


class SSEEvent(msgspec.Struct, frozen=True):
    """One dispatched event. ``event`` is ``"message"`` when the stream named none."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEParser:
    """Feed bytes with :meth:`feed`; each call returns the events completed so far."""

    __slots__ = (
        "_buffer",
        "_data",
        "_decoder",
        "_event",
        "_has_data",
        "_id",
        "_pending_cr",
        "_retry",
        "_started",
    )

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._pending_cr = False
        self._data: list[str] = []
        self._has_data = False
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._started = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse ``chunk`` and return every event it completed, in order."""
        text = self._decoder.decode(chunk)
        if not text:
            return []
        if not self._started:
            # The stream may open with a UTF-8 byte order mark, which is not part of a field.
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._pending_cr:
            # The previous chunk ended in CR: a LF now is the second half of one CRLF.
            self._pending_cr = False
            if text.startswith("\n"):
                text = text[1:]
        buffer = self._buffer + text
        events: list[SSEEvent] = []
        start = 0
        length = len(buffer)
        while start < length:
            cr = buffer.find("\r", start)
            lf = buffer.find("\n", start)
            if cr == -1 and lf == -1:
                break
            if cr == -1 or (lf != -1 and lf < cr):
                end, next_start = lf, lf + 1
            else:
                end = cr
                if cr + 1 < length:
                    next_start = cr + 2 if buffer[cr + 1] == "\n" else cr + 1
                else:
                    next_start = cr + 1
                    self._pending_cr = True
            self._line(buffer[start:end], events)
            start = next_start
        self._buffer = buffer[start:]
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: return the last event if it was not followed by a blank line."""
        tail = self._decoder.decode(b"", final=True)
        events: list[SSEEvent] = []
        rest = self._buffer + tail
        self._buffer = ""
        if rest:
            self._line(rest, events)
        self._dispatch(events)
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[0] == ":":
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._has_data:
            events.append(
                SSEEvent(
                    data="\n".join(self._data),
                    event=self._event or "message",
                    id=self._id,
                    retry=self._retry,
                )
            )
        self._data = []
        self._has_data = False
        self._event = ""
        self._retry = None
