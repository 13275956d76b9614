"""Queries over the campaigns read model: campaigns, their items with headline figures, schedules."""

from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.events.campaigns import CampaignSpec
from kitt.projections.campaigns import SKIP_PREFIX
from kitt.projections.models import CampaignItemRow, CampaignRow, RunRow, ScheduleRow, table
from kitt.storage import headlines

_campaigns = table(CampaignRow)
_items = table(CampaignItemRow)
_schedules = table(ScheduleRow)
_runs = table(RunRow)


class Campaign(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: str
    name: str
    status: str
    description: str
    total_items: int
    finished_items: int
    failed_items: int
    skipped_items: int
    created_at: datetime
    launched_at: datetime | None = None
    finished_at: datetime | None = None
    source: str | None = None
    resumes: str | None = None
    spec: CampaignSpec


class Item(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    model: str
    engine: str
    suite: str
    agent: str | None
    status: str
    attempt: int = 0
    test_id: str | None = None
    run_id: str | None = None
    error: str | None = None
    simulated: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    figures: dict[str, float] = {}  # headline figures: output_throughput, ttft_p99, score (quality)


class CampaignDetail(msgspec.Struct, frozen=True, kw_only=True):
    campaign: Campaign
    items: tuple[Item, ...]
    skipped: tuple[Item, ...]


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    schedule_id: str
    name: str
    cron: str
    campaign_name: str
    created_at: datetime
    last_slot: datetime | None = None
    last_campaign_id: str | None = None
    last_error: str | None = None
    missed_slots: int = 0
    last_missed: datetime | None = None


def _fields(row: Row[Any], names: tuple[str, ...], *skip: str) -> dict[str, Any]:
    """The row's columns by name; SQLite hands timestamps back without their zone: they are UTC."""
    out = {}
    for name in names:
        if name in skip:
            continue
        value = getattr(row, name)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        out[name] = value
    return out


def _campaign(row: Row[Any]) -> Campaign:
    fields = _fields(row, Campaign.__struct_fields__, "spec")
    return Campaign(**fields, spec=msgspec.json.decode(row.spec, type=CampaignSpec))


async def campaigns(db: AsyncEngine, *, limit: int = 100) -> list[Campaign]:
    query = select(_campaigns).order_by(_campaigns.c.created_at.desc()).limit(limit)
    async with db.connect() as conn:
        return [_campaign(r) for r in await conn.execute(query)]


async def latest(db: AsyncEngine, *, source: str | None = None) -> Campaign | None:
    query = select(_campaigns).order_by(_campaigns.c.created_at.desc()).limit(1)
    if source is not None:
        query = query.where(_campaigns.c.source == source)
    async with db.connect() as conn:
        row = (await conn.execute(query)).first()
    return _campaign(row) if row else None


async def campaign(db: AsyncEngine, campaign_id: str) -> CampaignDetail | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(_campaigns).where(_campaigns.c.campaign_id == campaign_id))).first()
        if row is None:
            return None
        rows = list(
            await conn.execute(
                select(_items).where(_items.c.campaign_id == campaign_id).order_by(_items.c.key)
            )
        )
        figures = await headlines.figures(conn, [r.run_id for r in rows if r.run_id])
    items = [
        Item(
            **_fields(r, Item.__struct_fields__, "figures"),
            figures=figures.get(r.run_id, {}),
        )
        for r in rows
    ]
    return CampaignDetail(
        campaign=_campaign(row),
        items=tuple(i for i in items if not i.key.startswith(SKIP_PREFIX)),
        skipped=tuple(i for i in items if i.key.startswith(SKIP_PREFIX)),  # what planning left out
    )


async def schedules(db: AsyncEngine) -> list[Schedule]:
    async with db.connect() as conn:
        rows = await conn.execute(select(_schedules).order_by(_schedules.c.created_at))
        return [Schedule(**_fields(r, Schedule.__struct_fields__)) for r in rows]


async def latest_by_id(db: AsyncEngine, campaign_id: str) -> Campaign | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(_campaigns).where(_campaigns.c.campaign_id == campaign_id))).first()
    return _campaign(row) if row else None
