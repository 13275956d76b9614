"""Devon's records as its REST API returns them (spec/DEVON-API.md), decoded strictly enough to catch a
Devon that answers something else, loosely enough that a field Devon adds does not break KITT."""

import msgspec

DEFAULT_SOURCE = "huggingface"


class RemoteModel(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    model_id: str
    model_name: str = ""
    author: str | None = None
    total_size_bytes: int = 0
    file_count: int = 0
    parameter_count: float | None = None  # billions
    architecture: str | None = None
    format: tuple[str, ...] = ()
    quantization: str | None = None
    tags: tuple[str, ...] = ()
    license: str | None = None
    downloads: int = 0
    likes: int = 0
    web_url: str | None = None


class LocalModel(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    model_id: str
    path: str
    size_bytes: int = 0
    downloaded_at: str | None = None
    last_used: str | None = None
    files: tuple[str, ...] = ()

    def downloaded(self) -> "Downloaded":
        """This model, as a download's answer."""
        return Downloaded(
            model_id=self.model_id,
            source=self.source,
            path=self.path,
            files=self.files,
            size_bytes=self.size_bytes,
        )


class SearchResults(msgspec.Struct, frozen=True, kw_only=True):
    query: str | None = None
    source: str = DEFAULT_SOURCE
    count: int = 0
    results: tuple[RemoteModel, ...] = ()


class LocalModels(msgspec.Struct, frozen=True, kw_only=True):
    count: int = 0
    models: tuple[LocalModel, ...] = ()


class Downloaded(msgspec.Struct, frozen=True, kw_only=True):
    model_id: str
    source: str
    path: str
    files: tuple[str, ...] = ()
    size_bytes: int = 0


class SourceUsage(msgspec.Struct, frozen=True, kw_only=True):
    count: int = 0
    size_bytes: int = 0


class StorageStatus(msgspec.Struct, frozen=True, kw_only=True):
    model_count: int = 0
    total_size_bytes: int = 0
    storage_path: str | None = None
    sources: dict[str, SourceUsage] = {}


class Search(msgspec.Struct, frozen=True, kw_only=True):
    """A search as `GET /api/v1/search` takes it: the query and Devon's own filters."""

    query: str | None = None
    source: str = DEFAULT_SOURCE
    provider: str | None = None
    params: str | None = None  # e.g. "7b"
    size: str | None = None  # e.g. "<100gb"
    format: str | None = None  # gguf, safetensors, pytorch
    task: str | None = None
    license: str | None = None
    limit: int = 20

    def query_params(self) -> dict[str, str]:
        pairs = msgspec.structs.asdict(self)
        return {key: str(value) for key, value in pairs.items() if value is not None}


def usage(models: tuple[LocalModel, ...], storage_path: str | None) -> StorageStatus:
    """The status Devon's API would report, from its model list (for the backends without `/status`)."""
    sources: dict[str, SourceUsage] = {}
    for model in models:
        seen = sources.get(model.source, SourceUsage())
        sources[model.source] = SourceUsage(
            count=seen.count + 1, size_bytes=seen.size_bytes + model.size_bytes
        )
    total = sum(model.size_bytes for model in models)
    return StorageStatus(
        model_count=len(models), total_size_bytes=total, storage_path=storage_path, sources=sources
    )
