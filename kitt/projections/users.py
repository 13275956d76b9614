"""Users' API tokens and their roles: a token issued replaces the user's earlier one; revoking removes it."""

from kitt.events import subjects
from kitt.events.envelope import StoredEvent
from kitt.events.types import UserTokenIssued, UserTokenRevoked
from kitt.projections import sql
from kitt.projections.keyed import LastWriteWins
from kitt.projections.models import UserRow, table


class UsersProjection(LastWriteWins):
    name = "users"
    subjects = (subjects.aggregate_type_filter("user"),)
    table = table(UserRow)
    key = "name"

    def written(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        if not isinstance(event, UserTokenIssued):
            return None
        return {"token_hash": event.token_hash, "role": event.role, "issued_at": stored.envelope.occurred_at}

    def removed(self, stored: StoredEvent) -> bool:
        return isinstance(stored.envelope.event, UserTokenRevoked)
