"""The projector: an ordered consumer from checkpoint + 1, folded in batches, committed with its checkpoint.

The ordered consumer keeps no state on the server; the checkpoint row is the only record of progress and is
advanced in the same transaction as the read-model change (`... WHERE last_seq < :new RETURNING`), so a
crash mid-batch rolls both back and the batch is simply read again.
"""

import asyncio
import contextlib
import time
from datetime import UTC, datetime

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kitt.events import codec
from kitt.events.envelope import StoredEvent
from kitt.events.streams import EVENTS
from kitt.projections import sql
from kitt.projections.models import Checkpoint, DeadLetter
from kitt.projections.projection import Projection

log = structlog.get_logger(__name__)

_checkpoints = Checkpoint.__table__
_dead = DeadLetter.__table__
MAX_PAYLOAD_KEPT = 64 * 1024


class StaleCheckpoint(Exception):
    """Another projector instance advanced this checkpoint first: re-read from the database."""


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
        self._buffer: list[tuple[int, Msg]] = []
        self._arrived = asyncio.Event()
        self._drained = asyncio.Event()
        self.checkpoint = 0
        self.pending = 0  # messages the server still holds for us after the last one delivered

    async def run(self, stop: asyncio.Event) -> None:
        """Project until `stop`; an outage (database, NATS) is retried with backoff from the checkpoint."""
        backoff = 0.5
        while not stop.is_set():
            try:
                await self._run_once(stop)
                return
            except StaleCheckpoint:
                log.warning("checkpoint moved by another instance; resuming", projection=self.projection.name)
            except Exception as exc:
                log.error(
                    "projector failed; retrying",
                    projection=self.projection.name,
                    error=str(exc),
                    retry_s=backoff,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 30.0)

    async def _run_once(self, stop: asyncio.Event) -> None:
        self.checkpoint = await load_checkpoint(self._engine, self.projection.name)
        sub = await self._subscribe(self.checkpoint + 1)
        try:
            await self._consume(stop)
        finally:
            await _quietly_unsubscribe(sub)
            self._buffer.clear()
            self._drained.set()

    async def _subscribe(self, start_seq: int):
        subjects = list(self.projection.subjects)
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start_seq,
            filter_subjects=subjects if len(subjects) > 1 else None,
        )
        return await self._nc.jetstream().subscribe(
            subjects[0],
            stream=EVENTS,
            cb=self._on_message,
            ordered_consumer=True,
            idle_heartbeat=2.0,
            config=config,
        )

    async def _on_message(self, msg: Msg) -> None:
        seq, pending = ack_position(msg)
        self._buffer.append((seq, msg))
        self.pending = pending
        self._arrived.set()
        if len(self._buffer) >= 2 * self._batch_size:
            # Backpressure: stop taking deliveries until the database catches up.
            self._drained.clear()
            await self._drained.wait()

    async def _consume(self, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                arrived = asyncio.ensure_future(self._arrived.wait())
                await asyncio.wait({arrived, stopping}, return_when=asyncio.FIRST_COMPLETED)
                arrived.cancel()
                if stop.is_set() and not self._buffer:
                    return
                if self.pending and len(self._buffer) < self._batch_size and not stop.is_set():
                    await asyncio.sleep(self._linger_s)  # let a batch form while more is on its way
                while self._buffer:
                    batch = self._buffer[: self._batch_size]
                    del self._buffer[: len(batch)]
                    await self.flush(batch)
                    self._drained.set()
                self._arrived.clear()
                if stop.is_set():
                    return
        finally:
            stopping.cancel()
            self._drained.set()

    async def flush(self, batch: list[tuple[int, Msg]]) -> None:
        events: list[StoredEvent] = []
        dead: list[sql.Row] = []
        unknown = 0
        for seq, msg in batch:
            try:
                events.append(StoredEvent(seq, msg.subject, codec.decode(msg.data, msg.headers)))
            except codec.UnknownEventType:
                unknown += 1
            except codec.MalformedEvent as exc:
                dead.append(_dead_letter(self.projection.name, seq, msg.subject, str(exc), msg.data))
        last = batch[-1][0]
        async with self._engine.begin() as conn:
            for stored, reason in await self.projection.apply(conn, events):
                dead.append(
                    _dead_letter(self.projection.name, stored.seq, stored.subject, reason, b"")
                    | {"payload": codec.encode(stored.envelope)[0].decode()}
                )
            await sql.insert_missing(conn, _dead, dead)
            await advance_checkpoint(conn, self.projection.name, last, unknown=unknown, dead=len(dead))
        self.checkpoint = last
        if dead:
            log.warning("dead letters recorded", projection=self.projection.name, count=len(dead))


def _dead_letter(projection: str, seq: int, subject: str, reason: str, data: bytes) -> dict[str, object]:
    return {
        "projection": projection,
        "stream_seq": seq,
        "subject": subject,
        "reason": reason,
        "payload": data[:MAX_PAYLOAD_KEPT].decode("utf-8", errors="replace"),
        "recorded_at": datetime.now(UTC),
    }


def ack_position(msg: Msg) -> tuple[int, int]:
    """(stream sequence, messages pending) from a JetStream delivery's ack subject, read directly:
    nats-py's `Msg.metadata` builds several objects per access, a cost paid on every event here."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<time>.<pending>
        return int(tokens[5]), int(tokens[8])
    if len(tokens) >= 12:  # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.…
        return int(tokens[7]), int(tokens[10])
    metadata = msg.metadata
    return metadata.sequence.stream, metadata.num_pending


async def load_checkpoint(engine: AsyncEngine, name: str) -> int:
    async with engine.begin() as conn:
        await sql.insert_missing(conn, _checkpoints, [{"name": name, "last_seq": 0}])
        row = (await conn.execute(select(_checkpoints.c.last_seq).where(_checkpoints.c.name == name))).first()
    return int(row[0]) if row else 0


async def advance_checkpoint(conn: AsyncConnection, name: str, last: int, *, unknown: int, dead: int) -> None:
    result = await conn.execute(
        update(_checkpoints)
        .where(_checkpoints.c.name == name, _checkpoints.c.last_seq < last)
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


async def _quietly_unsubscribe(sub) -> None:
    try:
        await sub.unsubscribe()
    except Exception:  # the connection may already be closing; the consumer is ephemeral anyway
        pass


async def wait_for_checkpoint(engine: AsyncEngine, name: str, seq: int, timeout: float = 30.0) -> bool:
    """Wait until a projection has applied `seq` (for read-your-writes after a command)."""
    deadline = time.monotonic() + timeout
    while True:
        async with engine.connect() as conn:
            row = (
                await conn.execute(select(_checkpoints.c.last_seq).where(_checkpoints.c.name == name))
            ).first()
        if row and row[0] >= seq:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
