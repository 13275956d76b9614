"""Settings, user tokens, engine profiles, schedules: small keyed tables, last write wins (stream order)."""

from collections.abc import Sequence

import msgspec
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from kitt.events import subjects as subject_names
from kitt.events.envelope import StoredEvent
from kitt.events.types import (
    EngineProfileDeleted,
    EngineProfileSaved,
    ScheduleCreated,
    ScheduleDeleted,
    SettingChanged,
    UserTokenIssued,
    UserTokenRevoked,
)
from kitt.projections import sql
from kitt.projections.models import EngineProfileRow, ScheduleRow, SettingRow, UserRow

_settings = SettingRow.__table__
_profiles = EngineProfileRow.__table__
_schedules = ScheduleRow.__table__
_users = UserRow.__table__
_json = msgspec.json.Encoder()


class SettingsProjection:
    name = "settings"
    subjects = tuple(
        subject_names.aggregate_type_filter(a) for a in ("setting", "user", "engine_profile", "schedule")
    )
    tables = (_settings, _users, _profiles, _schedules)

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        for stored in events:
            env = stored.envelope
            event = env.event
            at = env.occurred_at
            seq = stored.seq
            if isinstance(event, SettingChanged):
                row = {"key": event.key, "value": _json.encode(event.value).decode(), "updated_at": at}
                await sql.upsert(conn, _settings, [{**row, "last_event_seq": seq}], key=("key",))
            elif isinstance(event, UserTokenIssued):
                row = {
                    "name": env.aggregate_id,
                    "token_hash": event.token_hash,
                    "role": event.role,
                    "issued_at": at,
                }
                await sql.upsert(conn, _users, [{**row, "last_event_seq": seq}], key=("name",))
            elif isinstance(event, UserTokenRevoked):
                await conn.execute(
                    delete(_users).where(_users.c.name == env.aggregate_id, _users.c.last_event_seq < seq)
                )
            elif isinstance(event, EngineProfileSaved):
                row = {
                    "name": env.aggregate_id,
                    "engine": event.engine,
                    "args": _json.encode(event.args).decode(),
                    "env": _json.encode(event.env).decode(),
                    "description": event.description,
                    "updated_at": at,
                }
                await sql.upsert(conn, _profiles, [{**row, "last_event_seq": seq}], key=("name",))
            elif isinstance(event, EngineProfileDeleted):
                await conn.execute(
                    delete(_profiles).where(
                        _profiles.c.name == env.aggregate_id, _profiles.c.last_event_seq < seq
                    )
                )
            elif isinstance(event, ScheduleCreated):
                row = {
                    "schedule_id": env.aggregate_id,
                    "name": event.name,
                    "cron": event.cron,
                    "campaign_id": event.campaign_id,
                    "created_at": at,
                }
                await sql.upsert(conn, _schedules, [{**row, "last_event_seq": seq}], key=("schedule_id",))
            elif isinstance(event, ScheduleDeleted):
                await conn.execute(
                    delete(_schedules).where(
                        _schedules.c.schedule_id == env.aggregate_id, _schedules.c.last_event_seq < seq
                    )
                )
        return []
