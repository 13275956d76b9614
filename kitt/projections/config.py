"""KITT's settings (saved values that override environment variables): last write wins, in stream order."""

import msgspec

from kitt.events import subjects
from kitt.events.envelope import StoredEvent
from kitt.events.types import SettingChanged
from kitt.projections import sql
from kitt.projections.keyed import LastWriteWins
from kitt.projections.models import SettingRow, table

_json = msgspec.json.Encoder()


class SettingsProjection(LastWriteWins):
    name = "settings"
    subjects = (subjects.aggregate_type_filter("setting"),)
    table = table(SettingRow)
    key = "key"

    def written(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        if not isinstance(event, SettingChanged):
            return None
        return {"value": _json.encode(event.value).decode(), "updated_at": stored.envelope.occurred_at}
