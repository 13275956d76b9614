"""The seam between the projector runner and each read model."""

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from kitt.events.envelope import StoredEvent


class Rejected(Exception):
    """An event that is well-formed but cannot apply to the read model (e.g. a result for no run)."""


class Projection(Protocol):
    name: str
    subjects: tuple[str, ...]  # EVENTS subject filters this projection reads
    tables: tuple[Table, ...]  # the tables it owns: emptied by reset and rebuild

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        """Fold a batch inside the caller's transaction; return the events it rejected, with why."""
        ...
