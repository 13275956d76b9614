"""Devon through its Python package (`devon`), when it is installed beside KITT: the same operations as
its API, through the classes its own CLI uses (`ModelStorage`, `SourceRegistry`). Calls block (downloads
run for minutes), so each one runs in a thread."""

import asyncio
import dataclasses
import importlib
import importlib.util
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from kitt.devon.protocol import DevonError, DevonNotFound
from kitt.devon.types import (
    DEFAULT_SOURCE,
    Downloaded,
    LocalModel,
    RemoteModel,
    Search,
    SearchResults,
    StorageStatus,
    usage,
)

T = TypeVar("T")


def available() -> bool:
    return importlib.util.find_spec("devon") is not None


def _local(entry: object) -> LocalModel:
    return msgspec.convert(entry, LocalModel, strict=False)


def _remote(found: object) -> RemoteModel:
    record = (
        dataclasses.asdict(found)
        if dataclasses.is_dataclass(found) and not isinstance(found, type)
        else found
    )
    return msgspec.convert(record, RemoteModel, strict=False)


class PackageDevon:
    def __init__(self) -> None:
        try:
            self._settings = importlib.import_module("devon.config.settings")
            self._storage = importlib.import_module("devon.storage.organizer")
            self._registry = importlib.import_module("devon.sources.registry")
        except ImportError as exc:
            raise DevonError(f"the devon package is installed but does not load: {exc}") from None

    @property
    def describe(self) -> str:
        return "the devon package"

    async def _run(self, call: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(call)
        except DevonError:
            raise
        except Exception as exc:  # the package's own failures, whatever they are: one line, with its words
            raise DevonError(f"{self.describe} failed: {type(exc).__name__}: {exc}") from None

    def _store(self) -> Any:  # the package's own ModelStorage
        return self._storage.ModelStorage(base_path=self._settings.Settings().storage_path)

    def _source(self, name: str) -> Any:  # one of the package's ModelSource classes
        try:
            return self._registry.SourceRegistry.get_source(name)()
        except ValueError as exc:
            raise DevonError(f"{self.describe}: {exc}") from None

    def _patterns(self, impl: Any, include: tuple[str, ...]) -> dict[str, list[str]]:
        if not include:
            return {}
        download = impl.download_model
        if "allow_patterns" not in inspect.signature(download).parameters:
            raise DevonError(f"{self.describe} cannot download only some files (include patterns {include})")
        return {"allow_patterns": list(include)}

    async def search(self, search: Search) -> SearchResults:
        def call() -> SearchResults:
            filters = {
                k: v for k, v in search.query_params().items() if k not in ("query", "source", "limit")
            }
            found = self._source(search.source).search(
                query=search.query, filters=filters, limit=search.limit
            )
            results = tuple(_remote(item) for item in found)
            return SearchResults(
                query=search.query, source=search.source, count=len(results), results=results
            )

        return await self._run(call)

    async def download(
        self, model_id: str, source: str = DEFAULT_SOURCE, include: tuple[str, ...] = (), force: bool = False
    ) -> Downloaded:
        def call() -> Downloaded:
            store = self._store()
            entry = store.get_model_entry(source, model_id)
            if entry is None or force:
                impl = self._source(source)
                info = impl.get_model_info(model_id)
                dest = store.get_model_path(source, model_id)
                files = impl.download_model(model_id, str(dest), **self._patterns(impl, include))
                store.register_model(source=source, model_id=model_id, metadata=_plain(info), files=files)
                entry = store.get_model_entry(source, model_id)
            return _local(entry).downloaded()

        return await self._run(call)

    async def models(self, source: str | None = None) -> tuple[LocalModel, ...]:
        return await self._run(
            lambda: tuple(_local(e) for e in self._store().list_local_models(source=source))
        )

    async def remove(self, model_id: str, source: str = DEFAULT_SOURCE) -> None:
        def call() -> None:
            if not self._store().delete_model(source, model_id):
                raise DevonNotFound(f"{self.describe}: {source}/{model_id} is not downloaded")

        await self._run(call)

    async def status(self) -> StorageStatus:
        def call() -> StorageStatus:
            store = self._store()
            models = tuple(_local(e) for e in store.list_local_models(source=None))
            return usage(models, str(store.base_path))

        return await self._run(call)


def _plain(info: object) -> dict[str, object]:
    if dataclasses.is_dataclass(info) and not isinstance(info, type):
        return dataclasses.asdict(info)
    return {}
