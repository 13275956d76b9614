"""Devon over its REST API (spec/DEVON-API.md), with its API key as a bearer token.

The key goes in the Authorization header only: never in the URL, a log line or an error message. A URL
that carries a user or password is refused. Devon's errors (`{"detail": …}`) become one-line DevonErrors
that say which Devon answered and what it said.
"""

from typing import TypeVar
from urllib.parse import quote, urlsplit

import httpx
import msgspec

from kitt.devon.protocol import DevonError, DevonNotFound, DevonUnreachable
from kitt.devon.types import (
    DEFAULT_SOURCE,
    Downloaded,
    LocalModel,
    LocalModels,
    Search,
    SearchResults,
    StorageStatus,
)

DOWNLOAD_TIMEOUT_S = 6 * 3600.0  # Devon answers a download when it is complete


T = TypeVar("T")


class _Health(msgspec.Struct):
    status: str
    version: str | None = None


class _Detail(msgspec.Struct):
    detail: str | list[object] | None = None


def _detail(response: httpx.Response) -> str:
    try:
        detail = msgspec.json.decode(response.content, type=_Detail).detail
    except msgspec.DecodeError:
        detail = None
    if isinstance(detail, list):
        return "; ".join(str(item) for item in detail) or response.reason_phrase
    return (detail or response.reason_phrase or "no reason given").splitlines()[0]


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DevonError(f"Devon's URL must be http:// or https:// with a host, not {url!r}")
    if parts.username or parts.password:
        raise DevonError("Devon's URL must not carry a user or password: set DEVON_API_KEY instead")
    return url.rstrip("/")


class HttpDevon:
    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 30.0) -> None:
        self.url = check_url(url)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout_s

    @property
    def describe(self) -> str:
        return f"Devon at {self.url}"

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, object] | None = None,
        read_timeout: float | None = None,
    ) -> bytes:
        timeout = httpx.Timeout(self._timeout, read=read_timeout or self._timeout)
        try:
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
                response = await client.request(
                    method, self.url + path, params=params, json=body, headers=self._headers
                )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise DevonUnreachable(f"{self.describe} is unreachable: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise DevonError(f"{self.describe} did not answer: {type(exc).__name__}") from None
        if response.status_code == 401:
            raise DevonError(f"{self.describe} refused the API key (401): {_detail(response)}")
        if response.status_code == 404:
            raise DevonNotFound(f"{self.describe}: not found (404): {_detail(response)}")
        if response.status_code >= 400:
            raise DevonError(f"{self.describe} failed ({response.status_code}): {_detail(response)}")
        return response.content

    async def health(self) -> str:
        """Devon's version; raises DevonUnreachable when nothing answers (`/health` needs no key)."""
        return self._decode(await self._call("GET", "/health"), _Health).version or "unknown"

    def _decode(self, content: bytes, kind: type[T]) -> T:
        try:
            return msgspec.json.decode(content, type=kind)
        except msgspec.ValidationError as exc:
            raise DevonError(f"{self.describe} answered something that is not Devon's API: {exc}") from None
        except msgspec.DecodeError:
            raise DevonError(f"{self.describe} answered something that is not JSON") from None

    async def search(self, search: Search) -> SearchResults:
        content = await self._call("GET", "/api/v1/search", params=search.query_params())
        return self._decode(content, SearchResults)

    async def download(
        self, model_id: str, source: str = DEFAULT_SOURCE, include: tuple[str, ...] = (), force: bool = False
    ) -> Downloaded:
        body: dict[str, object] = {
            "model_id": model_id,
            "source": source,
            "force": force,
            "include_patterns": list(include) or None,
        }
        content = await self._call("POST", "/api/v1/downloads", body=body, read_timeout=DOWNLOAD_TIMEOUT_S)
        return self._decode(content, Downloaded)

    async def models(self, source: str | None = None) -> tuple[LocalModel, ...]:
        params = {"source": source} if source else None
        return self._decode(await self._call("GET", "/api/v1/models", params=params), LocalModels).models

    async def remove(self, model_id: str, source: str = DEFAULT_SOURCE) -> None:
        await self._call("DELETE", f"/api/v1/models/{quote(source, safe='')}/{quote(model_id, safe='/')}")

    async def status(self) -> StorageStatus:
        return self._decode(await self._call("GET", "/api/v1/status"), StorageStatus)
