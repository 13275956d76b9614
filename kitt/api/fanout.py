"""Live streams for browsers: one JetStream consumer per subject, shared by every browser following it.

A browser joins the subject's feed (started on first use, stopped when the last browser leaves), then
reads what it missed (from its `Last-Event-ID`, with a short private read of the stream) and carries on with
the shared feed; stream sequences merge the two without a gap or a duplicate. A browser that cannot keep up
is let go: its EventSource reconnects with the last id it saw and catches up the same way.
"""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable

from litestar.response import Stream
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy

QUEUE_SIZE = 2000
CATCH_UP_WAIT_S = 0.3


class Item:
    """A message on a feed. Every browser on the feed gets the same Item, so its SSE frame is rendered
    once and written to each of them as it is."""

    __slots__ = ("_frame", "data", "seq", "subject")

    def __init__(self, seq: int, subject: str, data: bytes) -> None:
        self.seq = seq
        self.subject = subject
        self.data = data
        self._frame: bytes | None = None

    def frame(self, render: Callable[["Item"], bytes]) -> bytes:
        if self._frame is None:
            self._frame = render(self)
        return self._frame


def sse(data: str, *, event: str | None = None, id: int | None = None) -> bytes:
    """One Server-Sent Events frame; a multi-line `data` becomes several `data:` lines."""
    head = (f"id: {id}\n" if id is not None else "") + (f"event: {event}\n" if event else "")
    body = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return (head + body + "\n").encode()


KEEP_ALIVE = b": keep-alive\n\n"


def stream(frames: AsyncIterator[bytes]) -> Stream:
    return Stream(
        frames,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class Feed:
    """One ordered consumer on `subject`, delivering new messages to every joined queue."""

    def __init__(self, nc: Client, subject: str) -> None:
        self.nc = nc
        self.subject = subject
        self.queues: set[asyncio.Queue[Item | None]] = set()
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.peak = 0  # the most browsers it served at once

    async def start(self) -> None:
        self.task = asyncio.create_task(self._pump(), name=f"feed {self.subject}")
        await self.ready.wait()

    async def _pump(self) -> None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        sub = await self.nc.jetstream().subscribe(self.subject, ordered_consumer=True, config=config)
        self.ready.set()
        try:
            async for msg in sub.messages:
                item = Item(seq=msg.metadata.sequence.stream, subject=msg.subject, data=msg.data)
                for queue in list(self.queues):
                    try:
                        queue.put_nowait(item)
                    except asyncio.QueueFull:
                        self.queues.discard(queue)  # too slow: it reconnects and catches up
                        with contextlib.suppress(asyncio.QueueFull):
                            queue.put_nowait(None)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


class Hub:
    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.feeds: dict[str, Feed] = {}
        self.opened: Counter[str] = Counter()  # upstream consumers started, by subject
        self.last: dict[str, Feed] = {}  # the latest feed per subject, kept for inspection
        self._lock = asyncio.Lock()

    async def _join(self, subject: str) -> tuple[Feed, asyncio.Queue[Item | None]]:
        async with self._lock:
            feed = self.feeds.get(subject)
            if feed is None:
                feed = self.feeds[subject] = self.last[subject] = Feed(self.nc, subject)
                self.opened[subject] += 1
                await feed.start()
            queue: asyncio.Queue[Item | None] = asyncio.Queue(QUEUE_SIZE)
            feed.queues.add(queue)
            feed.peak = max(feed.peak, len(feed.queues))
            return feed, queue

    async def _leave(self, feed: Feed, queue: asyncio.Queue[Item | None]) -> None:
        async with self._lock:
            feed.queues.discard(queue)
            if not feed.queues and self.feeds.get(feed.subject) is feed:
                del self.feeds[feed.subject]
                await feed.stop()

    async def follow(
        self, subject: str, after: int | None, *, idle_s: float = 1.0
    ) -> AsyncIterator[Item | None]:
        """Messages on `subject` after stream sequence `after` (None: only new ones), then live; yields
        None after `idle_s` without a message, so the caller can check whether to stop."""
        feed, queue = await self._join(subject)
        try:
            last = after or 0
            if after is not None:
                async for item in self._catch_up(subject, after):
                    last = item.seq
                    yield item
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), idle_s)
                except TimeoutError:
                    yield None
                    continue
                if item is None:
                    return  # let go for being slow: the browser reconnects from its last id
                if item.seq > last:
                    last = item.seq
                    yield item
        finally:
            await self._leave(feed, queue)

    async def _catch_up(self, subject: str, after: int) -> AsyncIterator[Item]:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)
        sub = await self.nc.jetstream().subscribe(subject, ordered_consumer=True, config=config)
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=CATCH_UP_WAIT_S)
                except TimeoutError:
                    return
                yield Item(seq=msg.metadata.sequence.stream, subject=msg.subject, data=msg.data)
                if msg.metadata.num_pending == 0:
                    return
        finally:
            await sub.unsubscribe()

    async def close(self) -> None:
        for feed in list(self.feeds.values()):
            await feed.stop()
        self.feeds.clear()
