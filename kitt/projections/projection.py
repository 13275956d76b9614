"""The seam between the projector runner and each read model."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kitt.events.envelope import StoredEvent


class Rejected(Exception):
    """An event that is well-formed but cannot apply to the read model (e.g. a result for no run)."""


class Projection(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def subjects(self) -> tuple[str, ...]:
        """The EVENTS subject filters this projection reads."""
        ...

    @property
    def tables(self) -> tuple[Table, ...]:
        """The tables it owns: emptied by reset and rebuild."""
        ...

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        """Fold a batch inside the caller's transaction; return the events it rejected, with why."""
        ...


# Writes a folded batch inside the caller's transaction; returns the events it rejected, with why.
Write = Callable[[AsyncConnection], Awaitable[list[tuple[StoredEvent, str]]]]


@runtime_checkable
class Pipelined(Protocol):
    """A projection that folds a batch while the batch before it is still being written.

    `prepare` may read committed state (on its own connection) for what the batch in flight does not
    touch, and carries the rest in memory; `restart` drops that memory when the runner starts over from
    its checkpoint, so nothing a failed write left behind is trusted.
    """

    def restart(self) -> None: ...

    async def prepare(self, engine: AsyncEngine, events: Sequence[StoredEvent]) -> Write: ...
