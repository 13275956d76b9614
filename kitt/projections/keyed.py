"""The shape most small read models share: one row per aggregate, created by one event, changed by others.

A subclass says which row an event creates (`created`) or which columns it changes (`changed`); this base
writes them idempotently and rejects a change for a row that was never created.
"""

from collections.abc import Sequence
from typing import ClassVar

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kitt.events.envelope import StoredEvent
from kitt.projections import sql


class KeyedProjection:
    name: ClassVar[str]
    subjects: ClassVar[tuple[str, ...]]
    table: ClassVar[Table]
    key: ClassVar[str]
    noun: ClassVar[str]  # for rejection messages: "campaign", "agent", ...

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.table,)

    def created(self, stored: StoredEvent) -> sql.Row | None:
        """The new row's columns (without key and sequence) if this event creates the row."""
        return None

    def changed(self, stored: StoredEvent) -> sql.Row | None:
        """The columns this event changes, or None when it does not concern this read model."""
        return None

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        rejected: list[tuple[StoredEvent, str]] = []
        for stored in events:
            row_id = stored.envelope.aggregate_id
            row = self.created(stored)
            if row is not None:
                full = {**row, self.key: row_id, "last_event_seq": stored.seq}
                await sql.upsert(conn, self.table, [full], key=(self.key,))
                continue
            values = self.changed(stored)
            if values is None:
                continue
            if await sql.guarded_update(conn, self.table, self.key, row_id, stored.seq, values):
                continue
            if not await self._exists(conn, row_id):
                rejected.append(
                    (stored, f"{stored.envelope.type} for {self.noun} {row_id}, which does not exist")
                )
        return rejected

    async def _exists(self, conn: AsyncConnection, row_id: str) -> bool:
        key = self.table.c[self.key]
        return (await conn.execute(select(key).where(key == row_id))).first() is not None


class LastWriteWins:
    """One row per aggregate, replaced by each event that sets it and removed by the one that ends it (in
    stream order; a row's `last_event_seq` keeps a replay from undoing a later write)."""

    name: ClassVar[str]
    subjects: ClassVar[tuple[str, ...]]
    table: ClassVar[Table]
    key: ClassVar[str]

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.table,)

    def written(self, stored: StoredEvent) -> sql.Row | None:
        """The row's columns (without key and sequence) if this event sets it."""
        return None

    def removed(self, stored: StoredEvent) -> bool:
        """Whether this event ends the row."""
        return False

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        for stored in events:
            row_id = stored.envelope.aggregate_id
            row = self.written(stored)
            if row is not None:
                full = {**row, self.key: row_id, "last_event_seq": stored.seq}
                await sql.upsert(conn, self.table, [full], key=(self.key,))
            elif self.removed(stored):
                column = self.table.c[self.key]
                await conn.execute(
                    delete(self.table).where(column == row_id, self.table.c.last_event_seq < stored.seq)
                )
        return []
