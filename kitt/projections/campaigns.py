"""Campaigns read model: status and progress of each models x engines x suites sweep."""

from collections.abc import Sequence

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kitt.events.envelope import StoredEvent
from kitt.events.types import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignItemFinished,
    CampaignLaunched,
)
from kitt.projections import sql
from kitt.projections.models import CampaignRow

_campaigns = CampaignRow.__table__
_json = msgspec.json.Encoder()


class CampaignsProjection:
    name = "campaigns"
    subjects = ("ev.campaign.>",)
    tables = (_campaigns,)

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        rejected: list[tuple[StoredEvent, str]] = []
        for stored in events:
            env = stored.envelope
            event = env.event
            at = env.occurred_at
            if isinstance(event, CampaignCreated):
                spec = event.spec
                row = {
                    "campaign_id": env.aggregate_id,
                    "name": event.name,
                    "status": "draft",
                    "spec": _json.encode(spec).decode(),
                    "total_items": len(spec.models) * len(spec.engines) * len(spec.suites),
                    "finished_items": 0,
                    "failed_items": 0,
                    "created_at": at,
                    "last_event_seq": stored.seq,
                }
                await sql.upsert(conn, _campaigns, [row], key=("campaign_id",))
                continue
            if isinstance(event, CampaignLaunched):
                values: sql.Row = {"status": "running", "launched_at": at}
            elif isinstance(event, CampaignItemFinished):
                values = {
                    "finished_items": _campaigns.c.finished_items + 1,
                    "failed_items": _campaigns.c.failed_items + (0 if event.status == "succeeded" else 1),
                }
            elif isinstance(event, CampaignCompleted):
                values = {"status": event.status, "finished_at": at}
            elif isinstance(event, CampaignCancelled):
                values = {"status": "cancelled", "finished_at": at}
            else:
                continue
            applied = await sql.guarded_update(
                conn, _campaigns, "campaign_id", env.aggregate_id, stored.seq, values
            )
            if not applied:
                exists = await conn.execute(
                    select(_campaigns.c.campaign_id).where(_campaigns.c.campaign_id == env.aggregate_id)
                )
                if exists.first() is None:
                    rejected.append(
                        (stored, f"{env.type} for campaign {env.aggregate_id}, which does not exist")
                    )
        return rejected
