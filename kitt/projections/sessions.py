"""Logged-out browser sessions: a signed cookie is honoured only while its session id is not here."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from kitt.events import subjects as subject_names
from kitt.events.envelope import StoredEvent
from kitt.events.types import SessionEnded
from kitt.projections import sql
from kitt.projections.models import EndedSessionRow, table

_ended = table(EndedSessionRow)


class SessionsProjection:
    name = "sessions"
    subjects = (subject_names.aggregate_type_filter("session"),)
    tables = (_ended,)

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        rows = [
            {
                "session_id": stored.envelope.aggregate_id,
                "user": stored.envelope.event.user,
                "ended_at": stored.envelope.occurred_at,
                "expires_at": stored.envelope.event.expires_at,
                "last_event_seq": stored.seq,
            }
            for stored in events
            if isinstance(stored.envelope.event, SessionEnded)
        ]
        await sql.insert_missing(conn, _ended, rows)
        return []
