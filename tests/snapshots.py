"""Read-model snapshots for comparing a live projection with a rebuild, or one backend with another."""

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.projections.registry import all_projections


def _normal(value: object) -> object:
    # SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


async def snapshot(engine: AsyncEngine) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    async with engine.connect() as conn:
        for projection in all_projections():
            for table in projection.tables:
                rows = await conn.execute(select(table).order_by(*table.primary_key.columns))
                out[table.name] = [tuple(_normal(v) for v in r) for r in rows]
    return out
