"""A finished OpenAI-compatible SSE stream decoded in one pass: the load generator's common case, made lean.

`dialects.decode_stream` frames a response and decodes it event by event, one JSON decode and one `Chunk`
each. At 1,024 streams of 100 tokens that per-event work is a fifth of the client's CPU. Nearly every
stream is plain — `data: {json}` events, `\\n\\n` apart, `data: [DONE]` last — so this path splits the
whole body at once, decodes every event's JSON in one call (a JSON array of them), and stamps each
token-bearing event with the read that completed it, exactly as the event-by-event path does. Anything
else (a comment or multi-line event, CRLF, an error event, JSON that does not decode, an unterminated
last event) returns None, and the caller takes the event-by-event path, which says precisely what was
wrong. tests/test_dialects.py holds the two paths to the same answer.
"""

from bisect import bisect_left
from itertools import accumulate

import msgspec

from kitt.engines import httpconn

_DONE = b"[DONE]"


class Delta(msgspec.Struct):
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None


class Choice(msgspec.Struct):
    text: str | None = None
    delta: Delta | None = None

    def piece(self) -> str | None:
        """The text this choice carries: "" for a token whose bytes do not make a character yet, None when
        it carries none (a role-only first delta, a bare `delta: {}` finish chunk)."""
        if self.text is not None:
            return self.text
        if self.delta is None:
            return None
        piece = self.delta.content if self.delta.content is not None else self.delta.reasoning_content
        return None if self.delta.role is not None and not piece else piece


class Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Event(msgspec.Struct):
    """One event of an OpenAI-compatible stream (completions or chat), as the dialect reads it."""

    choices: list[Choice] = []
    usage: Usage | None = None
    timings: dict[str, float] | None = None
    error: dict[str, object] | str | None = None


_events = msgspec.json.Decoder(list[Event])


class Decoded(msgspec.Struct, frozen=True, kw_only=True):
    times: list[float]  # the read that completed each token-bearing event
    text: str
    counted: int  # tokens counted from the events
    prompt_tokens: int | None
    output_tokens: int | None  # the usage report's, when the stream carried one
    timings: dict[str, float] | None


def _payloads(pieces: list[httpconn.Piece]) -> tuple[list[bytes], list[int]] | None:
    """Each event's JSON and the body offset where its delimiter ends; None for anything but plain events."""
    body = b"".join(piece for _, piece in pieces)
    if b"\r" in body:
        return None
    *frames, rest = body.split(b"\n\n")
    if rest.strip():
        return None  # an event with no delimiter after it
    payloads: list[bytes] = []
    ends: list[int] = []
    at = 0
    for frame in frames:
        at += len(frame) + 2
        if not frame:
            continue
        if not frame.startswith(b"data: ") or b"\n" in frame:
            return None
        payloads.append(frame[6:])
        ends.append(at)
    if payloads and payloads[-1].lstrip(b" ") == _DONE:
        payloads.pop()
        ends.pop()
    return payloads, ends


def decode(pieces: list[httpconn.Piece], *, chunk_per_token: bool) -> Decoded | None:
    found = _payloads(pieces)
    if found is None:
        return None
    payloads, ends = found
    try:
        events = _events.decode(b"[" + b",".join(payloads) + b"]")
    except msgspec.DecodeError:
        return None  # a [DONE] before the end, or malformed JSON: the careful path names it
    read_ends = list(accumulate(len(piece) for _, piece in pieces))
    times: list[float] = []
    parts: list[str] = []
    counted = 0
    prompt_tokens = output_tokens = None
    timings = None
    for event, end in zip(events, ends, strict=True):
        if event.error is not None:
            return None
        tokens = 0
        for choice in event.choices:
            piece = choice.piece()
            if piece is None:
                continue
            parts.append(piece)
            tokens += 1 if piece or chunk_per_token else 0
        if tokens:
            times.append(pieces[bisect_left(read_ends, end)][0])
            counted += tokens
        if event.usage is not None:
            prompt_tokens = (
                event.usage.prompt_tokens if event.usage.prompt_tokens is not None else prompt_tokens
            )
            if event.usage.completion_tokens is not None:
                output_tokens = event.usage.completion_tokens
        timings = event.timings or timings
    return Decoded(
        times=times,
        text="".join(parts),
        counted=counted,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        timings=timings,
    )
