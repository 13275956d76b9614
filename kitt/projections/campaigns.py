"""Campaigns read model: each campaign's status and progress, and each item of its plan (or skip)."""

from collections.abc import Sequence

import msgspec
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kitt.events import subjects as subject_names
from kitt.events.envelope import StoredEvent
from kitt.events.types import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignItemDispatched,
    CampaignItemFinished,
    CampaignItemRetrying,
    CampaignLaunched,
    CampaignPaused,
    CampaignResumed,
)
from kitt.projections import sql
from kitt.projections.keyed import KeyedProjection
from kitt.projections.models import CampaignItemRow, CampaignRow, table

SKIP_PREFIX = "s"  # planning's skips are keyed s001, s002... beside the items 001, 002...
_campaigns = table(CampaignRow)
_items = table(CampaignItemRow)
_json = msgspec.json.Encoder()


class CampaignsProjection(KeyedProjection):
    name = "campaigns"
    subjects = (
        subject_names.aggregate_type_filter("campaign"),
        subject_names.aggregate_type_filter("campaign_item"),
    )
    table = _campaigns
    key = "campaign_id"
    noun = "campaign"

    @property
    def tables(self) -> tuple[Table, ...]:
        return (_campaigns, _items)

    def created(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        if not isinstance(event, CampaignCreated):
            return None
        spec = event.spec
        return {
            "name": event.name,
            "status": "draft",
            "spec": _json.encode(spec).decode(),
            "total_items": len(event.items),
            "finished_items": 0,
            "failed_items": 0,
            "skipped_items": len(event.skipped),
            "description": spec.description,
            "source": spec.source,
            "resumes": spec.resumes,
            "created_at": stored.envelope.occurred_at,
        }

    def changed(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        at = stored.envelope.occurred_at
        if isinstance(event, CampaignLaunched):
            return {"status": "running", "launched_at": at}
        if isinstance(event, CampaignPaused | CampaignResumed):
            return {"status": "paused" if isinstance(event, CampaignPaused) else "running"}
        if isinstance(event, CampaignCompleted):
            return {"status": event.status, "finished_at": at}
        if isinstance(event, CampaignCancelled):
            return {"status": "cancelled", "finished_at": at}
        return None

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        rejected: list[tuple[StoredEvent, str]] = []
        for stored in events:
            event = stored.envelope.event
            if isinstance(event, CampaignItemDispatched | CampaignItemRetrying | CampaignItemFinished):
                if not await self._item(conn, stored):
                    rejected.append((stored, f"{stored.envelope.type} for an item no campaign planned"))
                continue
            rejected.extend(await super().apply(conn, [stored]))
            if isinstance(event, CampaignCreated):
                await sql.insert_missing(conn, _items, _plan_rows(stored, event))
        return rejected

    async def _item(self, conn: AsyncConnection, stored: StoredEvent) -> bool:
        event = stored.envelope.event
        assert isinstance(event, CampaignItemDispatched | CampaignItemRetrying | CampaignItemFinished)
        at = stored.envelope.occurred_at
        values: sql.Row
        if isinstance(event, CampaignItemDispatched):
            values = {
                "status": "running",
                "attempt": event.attempt,
                "test_id": event.test_id,
                "started_at": at,
            }
        elif isinstance(event, CampaignItemRetrying):
            values = {"status": "retrying", "error": event.error}
        else:
            values = {
                "status": "skipped" if event.skipped else event.status,
                "run_id": event.run_id,
                "error": event.error,
                "simulated": event.simulated,
                "finished_at": at,
            }
        where = (_items.c.campaign_id == event.campaign_id, _items.c.key == event.key)
        result = await conn.execute(
            update(_items)
            .where(*where, _items.c.last_event_seq < stored.seq)
            .values(**values, last_event_seq=stored.seq)
        )
        if result.rowcount and isinstance(event, CampaignItemFinished) and event.attempt:
            failed = 0 if event.status == "succeeded" or event.skipped else 1
            await conn.execute(
                update(_campaigns)
                .where(_campaigns.c.campaign_id == event.campaign_id)
                .values(
                    finished_items=_campaigns.c.finished_items + 1,
                    failed_items=_campaigns.c.failed_items + failed,
                )
            )
        return bool(result.rowcount) or await self._item_exists(conn, event.campaign_id, event.key)

    async def _item_exists(self, conn: AsyncConnection, campaign_id: str, key: str) -> bool:
        found = await conn.execute(
            select(_items.c.key).where(_items.c.campaign_id == campaign_id, _items.c.key == key)
        )
        return found.first() is not None


def _plan_rows(stored: StoredEvent, event: CampaignCreated) -> list[sql.Row]:
    base = {"campaign_id": stored.envelope.aggregate_id, "last_event_seq": stored.seq, "attempt": 0}
    rows: list[sql.Row] = [
        {
            **base,
            "key": item.key,
            "model": item.model,
            "engine": item.engine,
            "suite": item.suite,
            "agent": item.agent,
            "runtime": item.runtime,
            "status": "pending",
            "error": None,
            "size_bytes": item.size_bytes,
            "simulated": False,
        }
        for item in event.items
    ]
    rows += [
        {
            **base,
            "key": f"{SKIP_PREFIX}{n:03d}",
            "model": skip.model,
            "engine": skip.engine,
            "suite": skip.suite,
            "agent": skip.agent,
            "runtime": None,
            "status": "skipped",
            "error": skip.reason,
            "size_bytes": 0,
            "simulated": False,
        }
        for n, skip in enumerate(event.skipped, start=1)
    ]
    return rows
