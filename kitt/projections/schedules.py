"""Schedules (a campaign fired on a cron expression)."""

from kitt.events import subjects
from kitt.events.envelope import StoredEvent
from kitt.events.types import ScheduleCreated, ScheduleDeleted
from kitt.projections import sql
from kitt.projections.keyed import LastWriteWins
from kitt.projections.models import ScheduleRow, table


class SchedulesProjection(LastWriteWins):
    name = "schedules"
    subjects = (subjects.aggregate_type_filter("schedule"),)
    table = table(ScheduleRow)
    key = "schedule_id"

    def written(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        if not isinstance(event, ScheduleCreated):
            return None
        return {
            "name": event.name,
            "cron": event.cron,
            "campaign_id": event.campaign_id,
            "created_at": stored.envelope.occurred_at,
        }

    def removed(self, stored: StoredEvent) -> bool:
        return isinstance(stored.envelope.event, ScheduleDeleted)
