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
CATCH_UP_STALL_S = 30.0  # a catch-up read that gets nothing this long while messages are pending fails


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


class FeedUnavailable(Exception):
    """The subject's upstream consumer could not be started (its message is the reason)."""


def stream(frames: AsyncIterator[bytes]) -> Stream:
    return Stream(
        _guarded(frames),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _guarded(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A feed that cannot start ends the stream with an `error` event (the EventSource retries)."""
    try:
        async for frame in frames:
            yield frame
    except FeedUnavailable as exc:
        yield sse(str(exc), event="error")


class Subscriber:
    """One browser on a feed: its queue, and whether the feed has let it go."""

    __slots__ = ("closed", "queue")

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Item | None] = asyncio.Queue(size)
        self.closed = False

    def close(self) -> None:
        """Let it go: it reads what it already holds, then ends (a wake-up if it is waiting)."""
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


class Feed:
    """One ordered consumer on `subject`, delivering new messages to every joined subscriber."""

    def __init__(self, nc: Client, subject: str) -> None:
        self.nc = nc
        self.subject = subject
        self.subscribers: set[Subscriber] = set()
        self.task: asyncio.Task[None] | None = None
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.peak = 0  # the most browsers it served at once

    def start(self) -> None:
        self.task = asyncio.create_task(self._pump(), name=f"feed {self.subject}")

    async def wait_started(self) -> None:
        """Until the consumer is subscribed; raises FeedUnavailable for every waiter if it cannot be."""
        await asyncio.shield(self.started)

    async def _pump(self) -> None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        try:
            sub = await self.nc.jetstream().subscribe(self.subject, ordered_consumer=True, config=config)
        except Exception as exc:  # no stream for the subject, NATS away, permissions: tell every waiter
            self.started.set_exception(
                FeedUnavailable(f"cannot follow {self.subject}: {exc or type(exc).__name__}")
            )
            self._close_all()
            return
        self.started.set_result(None)
        try:
            async for msg in sub.messages:
                self._deliver(Item(seq=msg.metadata.sequence.stream, subject=msg.subject, data=msg.data))
        finally:
            self._close_all()  # whoever follows reconnects and catches up from its last id
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def _deliver(self, item: Item) -> None:
        for subscriber in list(self.subscribers):
            try:
                subscriber.queue.put_nowait(item)
            except asyncio.QueueFull:
                self.subscribers.discard(subscriber)  # too slow: it reconnects and catches up
                subscriber.close()

    def _close_all(self) -> None:
        for subscriber in self.subscribers:
            subscriber.close()
        self.subscribers.clear()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        if not self.started.done():
            self.started.set_exception(FeedUnavailable(f"{self.subject}: the feed was stopped"))
        with contextlib.suppress(BaseException):
            self.started.exception()  # retrieved: nobody may be waiting any more


class Hub:
    def __init__(self, nc: Client, *, queue_size: int = QUEUE_SIZE) -> None:
        self.nc = nc
        self.queue_size = queue_size
        self.feeds: dict[str, Feed] = {}
        self.opened: Counter[str] = Counter()  # upstream consumers started, by subject
        self.last: dict[str, Feed] = {}  # the latest feed per subject, kept for inspection
        self._lock = asyncio.Lock()  # guards `feeds`; never held while a feed starts

    async def _join(self, subject: str) -> tuple[Feed, Subscriber]:
        async with self._lock:
            feed = self.feeds.get(subject)
            if feed is None or (feed.task is not None and feed.task.done()):  # none yet, or it ended
                feed = self.feeds[subject] = self.last[subject] = Feed(self.nc, subject)
                self.opened[subject] += 1
                feed.start()
            subscriber = Subscriber(self.queue_size)
            feed.subscribers.add(subscriber)
            feed.peak = max(feed.peak, len(feed.subscribers))
        try:
            await feed.wait_started()
        except FeedUnavailable:
            await self._leave(feed, subscriber)
            raise
        return feed, subscriber

    async def _leave(self, feed: Feed, subscriber: Subscriber) -> None:
        async with self._lock:
            feed.subscribers.discard(subscriber)
            done = feed.started.done() and (feed.started.exception() is not None or not feed.subscribers)
            if done and self.feeds.get(feed.subject) is feed:
                del self.feeds[feed.subject]
        if done:
            await feed.stop()

    async def follow(
        self, subject: str, after: int | None, *, idle_s: float = 1.0
    ) -> AsyncIterator[Item | None]:
        """Messages on `subject` after stream sequence `after` (None: only new ones), then live; yields
        None after `idle_s` without a message, so the caller can check whether to stop. Ends when the feed
        lets this follower go (too slow, or the feed stopped); raises FeedUnavailable if it cannot start."""
        feed, subscriber = await self._join(subject)
        queue = subscriber.queue
        try:
            last = after or 0
            if after is not None:
                async for item in self._catch_up(subject, after):
                    last = item.seq
                    yield item
            while not (subscriber.closed and queue.empty()):
                try:
                    got = await asyncio.wait_for(queue.get(), idle_s)
                except TimeoutError:
                    yield None
                    continue
                if got is not None and got.seq > last:
                    last = got.seq
                    yield got
        finally:
            await self._leave(feed, subscriber)

    async def _catch_up(self, subject: str, after: int) -> AsyncIterator[Item]:
        """What the stream holds after `after`, read to its end as of now. The end is a fact (the
        consumer's pending count reaching 0), not a pause: under load a pause is no proof of an end, and a
        follower that stopped early would miss what came between (the shared feed has only newer ones)."""
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)
        sub = await self.nc.jetstream().subscribe(subject, ordered_consumer=True, config=config)
        try:
            info = await sub.consumer_info()
            if info.num_pending == 0 and not (info.delivered and info.delivered.consumer_seq):
                return  # nothing after `after`: the stream ends there
            while True:
                try:
                    msg = await sub.next_msg(timeout=CATCH_UP_STALL_S)
                except TimeoutError:
                    raise FeedUnavailable(f"{subject}: the catch-up after {after} stalled") from None
                yield Item(seq=msg.metadata.sequence.stream, subject=msg.subject, data=msg.data)
                if msg.metadata.num_pending == 0:
                    return
        finally:
            await sub.unsubscribe()

    async def close(self) -> None:
        for feed in list(self.feeds.values()):
            await feed.stop()
        self.feeds.clear()
