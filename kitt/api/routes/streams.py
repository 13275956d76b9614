"""Live feeds as Server-Sent Events: the fleet's heartbeats and the general activity feed.

Each is one shared consumer however many browsers follow it (kitt.api.fanout). The SSE `id` is the stream
sequence; reconnecting with `Last-Event-ID` resumes after it; a first connection gets only what is new.
The activity feed says what happened (type, aggregate, id, actor, time), never an event's payload, which
can hold token hashes and setting values.
"""

from collections.abc import AsyncIterator
from datetime import datetime

import msgspec
from litestar import Controller, Request, get
from litestar.response import ServerSentEvent, ServerSentEventMessage

from kitt.api.fanout import Hub


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


async def _activity(hub: Hub, after: int | None) -> AsyncIterator[ServerSentEventMessage]:
    async for item in hub.follow("ev.>", after):
        if item is None:
            yield ServerSentEventMessage(comment="keep-alive")
            continue
        try:
            headline = _headline.decode(item.data)
        except msgspec.DecodeError:
            continue  # a malformed event is the projectors' dead letter, not the browser's concern
        yield ServerSentEventMessage(
            id=item.seq, event=headline.type, data=msgspec.json.encode(headline).decode()
        )


async def _fleet(hub: Hub, after: int | None) -> AsyncIterator[ServerSentEventMessage]:
    async for item in hub.follow("hb.*", after):
        if item is None:
            yield ServerSentEventMessage(comment="keep-alive")
            continue
        try:
            beat = _beat.decode(item.data or b"{}")
        except msgspec.DecodeError:
            continue
        agent = item.subject.split(".", 1)[1]
        body = msgspec.json.encode(Beat(agent=agent, running=beat.running)).decode()
        yield ServerSentEventMessage(id=item.seq, event="heartbeat", data=body)


class StreamsController(Controller):
    path = "/api/v1/streams"

    @get("/activity")
    async def activity(self, request: Request) -> ServerSentEvent:
        """Every event appended to EVENTS, as a headline (`event` is its type, `data` a JSON Headline)."""
        return ServerSentEvent(_activity(request.app.state.hub, _after(request)))

    @get("/fleet")
    async def fleet(self, request: Request) -> ServerSentEvent:
        """Agents' heartbeats (`event: heartbeat`, `data` a JSON Beat: agent and the tests it runs)."""
        return ServerSentEvent(_fleet(request.app.state.hub, _after(request)))
