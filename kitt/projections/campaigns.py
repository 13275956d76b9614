"""Campaigns read model: status and progress of each models x engines x suites sweep."""

import msgspec

from kitt.events import subjects as subject_names
from kitt.events.envelope import StoredEvent
from kitt.events.types import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignItemFinished,
    CampaignLaunched,
)
from kitt.projections import sql
from kitt.projections.keyed import KeyedProjection
from kitt.projections.models import CampaignRow, table

_campaigns = table(CampaignRow)
_json = msgspec.json.Encoder()


class CampaignsProjection(KeyedProjection):
    name = "campaigns"
    subjects = (subject_names.aggregate_type_filter("campaign"),)
    table = _campaigns
    key = "campaign_id"
    noun = "campaign"

    def created(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        if not isinstance(event, CampaignCreated):
            return None
        spec = event.spec
        return {
            "name": event.name,
            "status": "draft",
            "spec": _json.encode(spec).decode(),
            "total_items": len(spec.models) * len(spec.engines) * len(spec.suites),
            "finished_items": 0,
            "failed_items": 0,
            "created_at": stored.envelope.occurred_at,
        }

    def changed(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        at = stored.envelope.occurred_at
        if isinstance(event, CampaignLaunched):
            return {"status": "running", "launched_at": at}
        if isinstance(event, CampaignItemFinished):
            failed = 0 if event.status == "succeeded" else 1
            return {
                "finished_items": _campaigns.c.finished_items + 1,
                "failed_items": _campaigns.c.failed_items + failed,
            }
        if isinstance(event, CampaignCompleted):
            return {"status": event.status, "finished_at": at}
        if isinstance(event, CampaignCancelled):
            return {"status": "cancelled", "finished_at": at}
        return None
