"""Rebuilding a projection while KITT runs: into a shadow database, switched in when caught up.

The projection replays EVENTS into a scratch SQLite database of its own (the same projection code, the
same tables), while the live projector goes on updating the live tables and the API keeps answering from
them. When the shadow has caught up with the stream, one transaction on the live database takes the write
lock (a no-op update of the checkpoint row), checks that the live checkpoint has not passed the shadow's
(if it has, the shadow catches up again first), replaces the projection's rows and dead letters with the
shadow's and moves the checkpoint to the shadow's. Readers see the old rows or the new ones, never a mix
or an empty table. The live projector's next commit then finds its checkpoint moved (StaleCheckpoint) and
resumes from the new one, so no event is applied twice or skipped.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from sqlalchemy import DateTime, Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kitt.projections import admin, migrate
from kitt.projections.db import create_engine
from kitt.projections.models import Checkpoint, DeadLetter, table
from kitt.projections.projection import Projection
from kitt.projections.runner import load_checkpoint

_checkpoints = table(Checkpoint)
_dead = table(DeadLetter)
CHUNK = 1000


async def rebuild(
    nc: Client, live: AsyncEngine, projection: Projection, scratch: Path, *, batch_size: int = 2000
) -> int:
    """Rebuild `projection` without stopping it; return the sequence it was switched in at."""
    for stale in _files(scratch):
        stale.unlink(missing_ok=True)
    shadow = create_engine(f"sqlite:///{scratch}")
    try:
        await migrate.upgrade(shadow)
        while True:
            seq = await admin.catch_up(nc, shadow, projection, batch_size=batch_size)
            if await _switch(live, shadow, projection, seq):
                return seq
    finally:
        await shadow.dispose()
        for leftover in _files(scratch):
            leftover.unlink(missing_ok=True)


def _files(scratch: Path) -> list[Path]:
    return [scratch, scratch.with_name(scratch.name + "-wal"), scratch.with_name(scratch.name + "-shm")]


async def _switch(live: AsyncEngine, shadow: AsyncEngine, projection: Projection, seq: int) -> bool:
    await load_checkpoint(live, projection.name)  # the row exists, so it can be locked
    async with live.begin() as conn:
        lock = update(_checkpoints).where(_checkpoints.c.name == projection.name)
        await conn.execute(lock.values(last_seq=_checkpoints.c.last_seq))  # the write lock, on both dialects
        current = (
            await conn.execute(select(_checkpoints.c.last_seq).where(_checkpoints.c.name == projection.name))
        ).scalar_one()
        if current > seq:
            return False  # the live projector got further meanwhile: catch the shadow up again
        for owned in reversed(projection.tables):
            await conn.execute(delete(owned))
        await conn.execute(delete(_dead).where(_dead.c.projection == projection.name))
        async with shadow.connect() as source:
            for owned in projection.tables:
                await _copy(source, conn, owned, select(owned))
            await _copy(source, conn, _dead, select(_dead).where(_dead.c.projection == projection.name))
            counted = (
                await source.execute(
                    select(_checkpoints.c.unknown_skipped, _checkpoints.c.dead_letters).where(
                        _checkpoints.c.name == projection.name
                    )
                )
            ).first()  # none where the stream holds nothing for this projection yet
        skipped, dead = (counted.unknown_skipped, counted.dead_letters) if counted else (0, 0)
        moved = dict(last_seq=seq, unknown_skipped=skipped, dead_letters=dead, updated_at=datetime.now(UTC))
        await conn.execute(lock.values(**moved))
    return True


async def _copy(source: AsyncConnection, target: AsyncConnection, owned: Table, query: Any) -> None:
    columns = [c for c in owned.columns if not (c.primary_key and c.autoincrement is True)]
    zoned = {c.name for c in columns if isinstance(c.type, DateTime) and c.type.timezone}
    result = await source.stream(query)
    async for chunk in result.partitions(CHUNK):
        rows = [_row(r._mapping, columns, zoned) for r in chunk]
        await target.execute(insert(owned), rows)


def _row(values: Any, columns: Sequence[Any], zoned: set[str]) -> dict[str, Any]:
    row = {c.name: values[c.name] for c in columns}
    for name in zoned:  # SQLite hands timestamps back without their zone: they were stored as UTC
        value = row[name]
        if isinstance(value, datetime) and value.tzinfo is None:
            row[name] = value.replace(tzinfo=UTC)
    return row
