"""Live feeds as Server-Sent Events: the fleet's heartbeats and the general activity feed.

Each is one shared consumer however many browsers follow it (kitt.api.fanout). The SSE `id` is the stream
sequence; reconnecting with `Last-Event-ID` resumes after it; a first connection gets only what is new.
The activity feed says what happened (type, aggregate, id, actor, time), never an event's payload, which
can hold token hashes and setting values.
"""

from collections.abc import AsyncIterator, Callable
from datetime import datetime

import msgspec
from litestar import Controller, Request, get
from litestar.response import Stream

from kitt.api.fanout import KEEP_ALIVE, Hub, Item, sse, stream
from kitt.events import subjects


class Headline(msgspec.Struct, frozen=True):
    type: str
    aggregate: str
    aggregate_id: str
    occurred_at: datetime
    actor: str = "system"


class Beat(msgspec.Struct, frozen=True):
    agent: str = ""
    running: tuple[str, ...] = ()


_headline = msgspec.json.Decoder(Headline)
_beat = msgspec.json.Decoder(Beat)


def _after(request: Request) -> int | None:
    last = request.headers.get("last-event-id", "")
    return int(last) if last.isdigit() else None


def _headline_frame(item: Item) -> bytes:
    try:
        headline = _headline.decode(item.data)
    except msgspec.DecodeError:
        return b""  # a malformed event is the projectors' dead letter, not the browser's concern
    return sse(msgspec.json.encode(headline).decode(), event=headline.type, id=item.seq)


def _beat_frame(item: Item) -> bytes:
    try:
        beat = _beat.decode(item.data or b"{}")
    except msgspec.DecodeError:
        return b""
    body = Beat(agent=item.subject.split(".", 1)[1], running=beat.running)
    return sse(msgspec.json.encode(body).decode(), event="heartbeat", id=item.seq)


async def _follow(
    hub: Hub, subject: str, after: int | None, render: Callable[[Item], bytes]
) -> AsyncIterator[bytes]:
    async for item in hub.follow(subject, after):
        if item is None:
            yield KEEP_ALIVE
        elif frame := item.frame(render):
            yield frame


class StreamsController(Controller):
    path = "/api/v1/streams"

    @get("/activity")
    async def activity(self, request: Request) -> Stream:
        """Every event appended to EVENTS, as a headline (`event` is its type, `data` a JSON Headline)."""
        return stream(_follow(request.app.state.hub, subjects.ALL_EVENTS, _after(request), _headline_frame))

    @get("/fleet")
    async def fleet(self, request: Request) -> Stream:
        """Agents' heartbeats (`event: heartbeat`, `data` a JSON Beat: agent and the tests it runs)."""
        return stream(_follow(request.app.state.hub, subjects.ALL_HEARTBEATS, _after(request), _beat_frame))
