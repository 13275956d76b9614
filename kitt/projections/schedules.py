"""Schedules: a campaign template fired on a cron expression, with when it last fired and what it missed."""

from collections.abc import Sequence

import msgspec
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from kitt.events import subjects
from kitt.events.envelope import StoredEvent
from kitt.events.types import ScheduleCreated, ScheduleDeleted, ScheduleFired, ScheduleSlotsMissed
from kitt.projections import sql
from kitt.projections.keyed import KeyedProjection
from kitt.projections.models import ScheduleRow, table

_schedules = table(ScheduleRow)
_json = msgspec.json.Encoder()


class SchedulesProjection(KeyedProjection):
    name = "schedules"
    subjects = (subjects.aggregate_type_filter("schedule"),)
    table = _schedules
    key = "schedule_id"
    noun = "schedule"

    def created(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        if not isinstance(event, ScheduleCreated):
            return None
        return {
            "name": event.name,
            "cron": event.cron,
            "campaign_name": event.campaign_name,
            "template": _json.encode(event.template).decode(),
            "created_at": stored.envelope.occurred_at,
            "missed_slots": 0,
        }

    def changed(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        if isinstance(event, ScheduleFired):
            return {"last_slot": event.slot, "last_campaign_id": event.campaign_id, "last_error": event.error}
        if isinstance(event, ScheduleSlotsMissed):
            return {
                "missed_slots": _schedules.c.missed_slots + len(event.slots),
                "last_missed": max(event.slots),
            }
        return None

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        rejected: list[tuple[StoredEvent, str]] = []
        for stored in events:
            if isinstance(stored.envelope.event, ScheduleDeleted):
                column = _schedules.c.schedule_id
                await conn.execute(
                    delete(_schedules).where(
                        column == stored.envelope.aggregate_id, _schedules.c.last_event_seq < stored.seq
                    )
                )
            else:
                rejected.extend(await super().apply(conn, [stored]))
        return rejected
