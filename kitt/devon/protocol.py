"""The one seam every Devon backend sits behind, and the errors each of them raises."""

from typing import Protocol

from kitt.devon.types import DEFAULT_SOURCE, Downloaded, LocalModel, Search, SearchResults, StorageStatus


class DevonError(RuntimeError):
    """Devon refused or failed: the message is one line a user can act on, and never holds the API key."""


class DevonUnreachable(DevonError):
    """Nothing answered at Devon's URL (the resolver then tries the local package and the CLI)."""


class DevonNotFound(DevonError):
    pass


class Devon(Protocol):
    @property
    def describe(self) -> str:
        """Which Devon this is, for messages: `Devon at http://…`, `the devon package`, `the devon CLI`."""
        ...

    async def search(self, search: Search) -> SearchResults: ...

    async def download(
        self, model_id: str, source: str = DEFAULT_SOURCE, include: tuple[str, ...] = (), force: bool = False
    ) -> Downloaded: ...

    async def models(self, source: str | None = None) -> tuple[LocalModel, ...]: ...

    async def remove(self, model_id: str, source: str = DEFAULT_SOURCE) -> None: ...

    async def status(self) -> StorageStatus: ...
