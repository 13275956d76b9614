"""The projector: an ordered consumer from checkpoint + 1, folded in batches, committed with its checkpoint.

The ordered consumer keeps no state on the server; the checkpoint row is the only record of progress and is
advanced in the same transaction as the read-model change (`... WHERE last_seq < :new RETURNING`), so a
crash mid-batch rolls both back and the batch is simply read again.
"""

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from nats.aio.client import Client
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kitt.events import codec
from kitt.events.delivery import DeliveryGap, OrderedDelivery
from kitt.events.envelope import Envelope, StoredEvent
from kitt.events.streams import EVENTS
from kitt.events.wire import Address, connect, header_fields
from kitt.projections import poison, sql
from kitt.projections.models import Checkpoint, DeadLetter, table
from kitt.projections.projection import Pipelined, Projection, Write
from kitt.projections.wal import WalCheckpoints

log = structlog.get_logger(__name__)

_checkpoints = table(Checkpoint)
_dead = table(DeadLetter)
MAX_PAYLOAD_KEPT = 64 * 1024


@dataclass(frozen=True, slots=True)
class _Refused:
    """A message that is not an event this projector can apply: an unknown type (no reason) or malformed."""

    seq: int
    subject: str
    reason: str | None
    data: bytes


class Backoff:
    """Pauses that double while failures keep coming, and start again from the first once a run lasted
    `settled_s` (so an outage an hour ago does not slow the next restart down)."""

    def __init__(
        self, first_s: float, most_s: float, *, at_once: bool = False, settled_s: float = 30.0
    ) -> None:
        self.first_s, self.most_s, self.settled_s = first_s, most_s, settled_s
        self._start = 0.0 if at_once else first_s  # at_once: the first retry does not wait
        self._next = self._start

    def after(self, ran_s: float) -> float:
        """The pause before the next try, after a run that lasted `ran_s`."""
        if ran_s >= self.settled_s:
            self._next = self._start
        pause = self._next
        self._next = min(max(self._next * 2, self.first_s), self.most_s)
        return pause


class StaleCheckpoint(Exception):
    """Another projector instance advanced this checkpoint first: re-read from the database."""


class Isolating(Exception):
    """A batch failed on what may be one event's fault: start over, one event per batch through it (or
    past the event just dead-lettered, with nothing it left in a pipelined projection's memory)."""


class Projector:
    def __init__(
        self,
        projection: Projection,
        nc: Client,
        engine: AsyncEngine,
        *,
        batch_size: int = 2000,
        linger_s: float = 0.01,
    ) -> None:
        self.projection = projection
        self._nc = nc
        self._engine = engine
        self._batch_size = batch_size
        self._linger_s = linger_s
        self._buffer: list[StoredEvent | _Refused] = []
        self._arrived = asyncio.Event()
        self._delivery: OrderedDelivery | None = None
        self._wal = WalCheckpoints(engine)
        self.checkpoint = 0
        self.active = False  # projecting now (not stopped, failed or standing by for another process)
        self._prepared_through = 0  # the last sequence of the newest batch handed to the database
        self._isolating_through = 0  # up to here, one event per batch: a batch through it failed
        self.pending = 0  # messages the server still holds for us after the last one delivered
        self.failures = 0  # runs that ended in an outage (database, NATS, a sink) and were retried

    async def run(self, stop: asyncio.Event) -> None:
        """Project until `stop`; an outage (database, NATS) is retried with backoff from the checkpoint.

        A gap (expected after a server restart) starts over at once the first time and with a growing pause
        if it keeps happening; an outage waits longer. Both pauses start small again once a run has lasted."""
        gaps, outages = Backoff(0.05, 2.0, at_once=True), Backoff(0.5, 30.0)
        while not stop.is_set():
            began = time.monotonic()
            try:
                await self._run_once(stop)
                return
            except StaleCheckpoint:
                log.warning("checkpoint moved by another instance; resuming", projection=self.projection.name)
                pause = 0.0
            except Isolating as exc:
                log.warning("isolating a failed batch", projection=self.projection.name, why=str(exc))
                pause = 0.0
            except DeliveryGap as exc:
                log.warning("deliveries interrupted; resuming", projection=self.projection.name, why=str(exc))
                pause = gaps.after(time.monotonic() - began)
            except Exception as exc:
                self.failures += 1
                pause = outages.after(time.monotonic() - began)
                log.error(
                    "projector failed; retrying",
                    projection=self.projection.name,
                    error=str(exc),
                    retry_s=pause,
                )
            if pause:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)

    async def _run_once(self, stop: asyncio.Event) -> None:
        self.checkpoint = await load_checkpoint(self._engine, self.projection.name)
        self.active = True  # `checkpoint` is this read model's position until this run ends
        self._prepared_through = self.checkpoint
        if isinstance(self.projection, Pipelined):
            self.projection.restart()  # what it carried may belong to a write that failed
        wire = await connect(Address.of(self._nc), name=f"kitt-projector-{self.projection.name}")
        delivery = OrderedDelivery(wire, self._nc, EVENTS, self.projection.subjects, self._on_event)
        self._delivery = delivery
        watch = None
        try:
            await delivery.start(self.checkpoint + 1)
            watch = asyncio.ensure_future(delivery.watch())
            await self._consume(stop, watch)
        finally:
            self.active = False  # stopped, failed, or another process holds the lease: position unknown
            if watch is not None:
                watch.cancel()
            await delivery.close()
            wire.close()
            self._buffer.clear()
            await self._wal.close()

    def _on_event(self, seq: int, pending: int, raw_subject: bytes, headers: bytes, data: bytes) -> None:
        # Decoded on arrival: this runs while the previous batch is being written by the database's thread.
        subject = raw_subject.decode()
        try:
            self._buffer.append(StoredEvent(seq, subject, _decode(headers, data)))
        except codec.UnknownEventType:
            self._buffer.append(_Refused(seq, subject, None, data))
        except codec.MalformedEvent as exc:
            self._buffer.append(_Refused(seq, subject, str(exc), data))
        self.pending = pending
        self._arrived.set()
        if len(self._buffer) >= 2 * self._batch_size and self._delivery is not None:
            self._delivery.hold()  # the server keeps the rest until the database catches up

    async def _consume(self, stop: asyncio.Event, watch: asyncio.Future[None]) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        writing: asyncio.Future[None] | None = None  # the batch being committed while the next one folds
        try:
            while True:
                arrived = asyncio.ensure_future(self._arrived.wait())
                waits: set[asyncio.Future[Any]] = {arrived, stopping, watch}
                if writing is not None:
                    waits.add(writing)  # a failed last write must start over even if nothing more comes
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                arrived.cancel()
                if watch.done():
                    watch.result()  # the delivery broke (gap, lost connection): start over
                if writing is not None and writing.done():
                    written, writing = writing, None
                    written.result()  # the write failed (database, or a projection's sink): start over
                if stop.is_set() and not self._buffer:
                    break
                if self.pending and len(self._buffer) < self._batch_size and not stop.is_set():
                    await asyncio.sleep(self._linger_s)  # let a batch form while more is on its way
                while self._buffer:
                    batch = self._buffer[: self._size_at(self._buffer[0].seq)]
                    del self._buffer[: len(batch)]
                    commit = await self._prepare(batch)
                    if writing is not None:
                        await writing  # batches commit in order, each after the one before
                    writing = asyncio.ensure_future(commit())
                    if len(self._buffer) < self._batch_size and self._delivery is not None:
                        self._delivery.release()
                self._arrived.clear()
                if stop.is_set():
                    break
            if writing is not None:
                await writing
        finally:
            stopping.cancel()
            if writing is not None and not writing.done():
                # Starting over after a failure: let the write finish or fail; the checkpoint decides.
                await asyncio.wait({writing})
            if writing is not None and writing.done() and not writing.cancelled():
                writing.exception()  # retrieved: a failure here is reported by whoever raised first

    def _size_at(self, seq: int) -> int:
        return 1 if seq <= self._isolating_through else self._batch_size

    async def _prepare(self, batch: list["StoredEvent | _Refused"]) -> Callable[[], Awaitable[None]]:
        """Fold a batch (a pipelined projection reads and folds now) and return what commits it; a poison
        event in it is dead-lettered alone (`poison`), and the read model goes on past it."""
        since, last = self._prepared_through, batch[-1].seq
        self._prepared_through = last
        try:
            commit = await self._fold(batch, since)
        except Exception as exc:
            return self._poisoned(batch, since, exc)

        async def guarded() -> None:
            try:
                await commit()
            except Exception as exc:
                await self._poisoned(batch, since, exc)()

        return guarded

    def _poisoned(
        self, batch: list["StoredEvent | _Refused"], since: int, error: Exception
    ) -> Callable[[], Awaitable[None]]:
        """After a failed fold or write: an outage is raised as it is; a batch that may hold a poison
        event starts over one event at a time; a single event that failed is dead-lettered alone."""
        alone = len(batch) == 1 and batch[0].seq <= self._isolating_through
        if not poison.is_poison(error) or isinstance(error, StaleCheckpoint):
            raise error
        if not alone:
            self._isolating_through = batch[-1].seq
            raise Isolating(f"{poison.describe(error)} in events {batch[0].seq}..{batch[-1].seq}") from error
        stored, projection = batch[0], self.projection
        if not isinstance(stored, StoredEvent):
            raise error  # a malformed message's dead letter failed to write: not this event's doing

        async def dead_letter() -> None:
            row = _dead_letter(projection.name, stored.seq, stored.subject, poison.describe(error), b"")
            row["payload"] = codec.encode(stored.envelope)[0].decode()[:MAX_PAYLOAD_KEPT]
            async with self._engine.begin() as conn:
                await sql.insert_missing(conn, _dead, [row])
                await advance_checkpoint(conn, projection.name, since, stored.seq, unknown=0, dead=1)
            self.checkpoint = stored.seq
            log.error(
                "poison event dead-lettered", projection=projection.name, seq=stored.seq, why=row["reason"]
            )
            raise Isolating(f"event {stored.seq} dead-lettered")  # a pipelined fold may still hold it

        return dead_letter

    async def _fold(self, batch: list["StoredEvent | _Refused"], since: int) -> Callable[[], Awaitable[None]]:
        events: list[StoredEvent] = []
        dead: list[sql.Row] = []
        unknown = 0
        for item in batch:
            if isinstance(item, StoredEvent):
                events.append(item)
            elif item.reason is None:
                unknown += 1
            else:
                dead.append(
                    _dead_letter(self.projection.name, item.seq, item.subject, item.reason, item.data)
                )
        last, projection = batch[-1].seq, self.projection
        if isinstance(projection, Pipelined):
            write: Write = await projection.prepare(self._engine, events)
        else:
            write = functools.partial(_apply, projection, events=events)

        async def commit() -> None:
            async with self._engine.begin() as conn:
                for stored, reason in await write(conn):
                    dead.append(
                        _dead_letter(projection.name, stored.seq, stored.subject, reason, b"")
                        | {"payload": codec.encode(stored.envelope)[0].decode()}
                    )
                await sql.insert_missing(conn, _dead, dead)
                await advance_checkpoint(conn, projection.name, since, last, unknown=unknown, dead=len(dead))
            self.checkpoint = last
            self._wal.after_commit()
            if dead:
                log.warning("dead letters recorded", projection=projection.name, count=len(dead))

        return commit


async def _apply(
    projection: Projection, conn: AsyncConnection, *, events: list[StoredEvent]
) -> list[tuple[StoredEvent, str]]:
    return await projection.apply(conn, events)


def _decode(headers: bytes, data: bytes) -> Envelope:
    try:
        return codec.decode(data)
    except codec.MalformedEvent:
        # The type header is the authority on the type: a payload of an unknown type is skipped, not dead.
        return codec.decode(data, header_fields(headers))


def _dead_letter(projection: str, seq: int, subject: str, reason: str, data: bytes) -> dict[str, object]:
    return {
        "projection": projection,
        "stream_seq": seq,
        "subject": subject,
        "reason": reason,
        "payload": data[:MAX_PAYLOAD_KEPT].decode("utf-8", errors="replace"),
        "recorded_at": datetime.now(UTC),
    }


async def load_checkpoint(engine: AsyncEngine, name: str) -> int:
    async with engine.begin() as conn:
        await sql.insert_missing(conn, _checkpoints, [{"name": name, "last_seq": 0}])
        row = (await conn.execute(select(_checkpoints.c.last_seq).where(_checkpoints.c.name == name))).first()
    return int(row[0]) if row else 0


async def advance_checkpoint(
    conn: AsyncConnection, name: str, since: int, last: int, *, unknown: int, dead: int
) -> None:
    """Move the checkpoint from SINCE (where this batch began) to LAST, in the batch's own transaction.

    Only from SINCE: when another instance of the projection has moved it (two `kitt project` processes),
    this batch's writes roll back with it and this instance starts again from the new checkpoint, so an
    event is applied by one instance only. (`last_seq < last` would let a longer batch that overlaps a
    shorter one, committed first, apply the shorter one's events a second time.)"""
    result = await conn.execute(
        update(_checkpoints)
        .where(_checkpoints.c.name == name, _checkpoints.c.last_seq == since)
        .values(
            last_seq=last,
            unknown_skipped=_checkpoints.c.unknown_skipped + unknown,
            dead_letters=_checkpoints.c.dead_letters + dead,
            updated_at=datetime.now(UTC),
        )
        .returning(_checkpoints.c.last_seq)
    )
    if result.first() is None:
        raise StaleCheckpoint(name)
