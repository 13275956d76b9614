"""Named engine profiles (extra launch arguments and environment for one engine)."""

import msgspec

from kitt.events import subjects
from kitt.events.envelope import StoredEvent
from kitt.events.types import EngineProfileDeleted, EngineProfileSaved
from kitt.projections import sql
from kitt.projections.keyed import LastWriteWins
from kitt.projections.models import EngineProfileRow, table

_json = msgspec.json.Encoder()


class EngineProfilesProjection(LastWriteWins):
    name = "engine_profiles"
    subjects = (subjects.aggregate_type_filter("engine_profile"),)
    table = table(EngineProfileRow)
    key = "name"

    def written(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        if not isinstance(event, EngineProfileSaved):
            return None
        return {
            "engine": event.engine,
            "args": _json.encode(event.args).decode(),
            "env": _json.encode(event.env).decode(),
            "description": event.description,
            "updated_at": stored.envelope.occurred_at,
        }

    def removed(self, stored: StoredEvent) -> bool:
        return isinstance(stored.envelope.event, EngineProfileDeleted)
