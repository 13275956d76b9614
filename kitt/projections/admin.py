"""`kitt projections status|reset|rebuild`: where each projection stands, and starting one over."""

import asyncio

import msgspec
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.events.bus import EventBus
from kitt.events.streams import EVENTS
from kitt.projections.models import Checkpoint, DeadLetter, table
from kitt.projections.projection import Projection
from kitt.projections.runner import Projector, load_checkpoint

_checkpoints = table(Checkpoint)


class ProjectionStatus(msgspec.Struct, frozen=True):
    name: str
    last_seq: int
    lag: int  # matching events in the stream after the checkpoint
    unknown_skipped: int
    dead_letters: int


async def pending_after(nc: Client, projection: Projection, seq: int) -> int:
    """How many of the projection's events follow `seq`: asked of a throwaway consumer, then deleted."""
    js = nc.jetstream()
    subjects = list(projection.subjects)
    info = await js.add_consumer(
        EVENTS,
        ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=seq + 1,
            ack_policy=AckPolicy.NONE,
            filter_subjects=subjects,
            inactive_threshold=5.0,
            mem_storage=True,
        ),
    )
    await js.delete_consumer(EVENTS, info.name)
    return int(info.num_pending or 0)


async def status(nc: Client, engine: AsyncEngine, projections: list[Projection]) -> list[ProjectionStatus]:
    out: list[ProjectionStatus] = []
    async with engine.connect() as conn:
        rows = {r.name: r for r in (await conn.execute(select(_checkpoints))).all()}
    for projection in projections:
        row = rows.get(projection.name)
        last = row.last_seq if row else 0
        out.append(
            ProjectionStatus(
                name=projection.name,
                last_seq=last,
                lag=await pending_after(nc, projection, last),
                unknown_skipped=row.unknown_skipped if row else 0,
                dead_letters=row.dead_letters if row else 0,
            )
        )
    return out


async def reset(engine: AsyncEngine, projection: Projection) -> None:
    """Empty the projection's tables and its checkpoint, in one transaction."""
    await load_checkpoint(engine, projection.name)
    async with engine.begin() as conn:
        for owned in projection.tables:
            await conn.execute(delete(owned))
        dead = table(DeadLetter)
        await conn.execute(delete(dead).where(dead.c.projection == projection.name))
        await conn.execute(
            update(_checkpoints)
            .where(_checkpoints.c.name == projection.name)
            .values(last_seq=0, unknown_skipped=0, dead_letters=0)
        )


async def catch_up(nc: Client, engine: AsyncEngine, projection: Projection, *, batch_size: int = 2000) -> int:
    """Run a projector until it has applied every event in the stream now; return its checkpoint."""
    bus = EventBus(nc)
    target = max([await bus.last_seq(s) for s in projection.subjects] or [0])
    stop = asyncio.Event()
    projector = Projector(projection, nc, engine, batch_size=batch_size)
    task = asyncio.create_task(projector.run(stop))
    try:
        while projector.checkpoint < target:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    return projector.checkpoint


async def rebuild(nc: Client, engine: AsyncEngine, projection: Projection) -> int:
    await reset(engine, projection)
    return await catch_up(nc, engine, projection)


class DeadLetterEntry(msgspec.Struct, frozen=True):
    projection: str  # a projection's name, or "ingestor" for an agent's refused report
    stream_seq: int
    subject: str
    reason: str
    recorded_at: str


async def dead_letters(
    engine: AsyncEngine, projection: str | None = None, limit: int = 100
) -> list[DeadLetterEntry]:
    """The newest `limit` dead letters (of one projection, or all), oldest first, without payloads."""
    dead = table(DeadLetter)
    query = select(dead.c.projection, dead.c.stream_seq, dead.c.subject, dead.c.reason, dead.c.recorded_at)
    if projection is not None:
        query = query.where(dead.c.projection == projection)
    async with engine.connect() as conn:
        rows = list(await conn.execute(query.order_by(dead.c.id.desc()).limit(limit)))
    return [
        DeadLetterEntry(r.projection, r.stream_seq, r.subject, r.reason, r.recorded_at.isoformat())
        for r in reversed(rows)
    ]
