"""Query results kept by the projection position they were read at.

A read model changes only when its projector commits, so a result read while the projection stood at
sequence N stays right for as long as it stands there. Where the projectors run in this process (the
embedded runtime), their position is known without asking the database: a repeated read costs no query,
and a write moves the position, so `?wait=true` still reads its own write. Elsewhere nothing is cached.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
Position = Callable[[str], int | None]


class ReadCache:
    def __init__(self, position: Position | None, maxsize: int = 512) -> None:
        self._position = position
        self._maxsize = maxsize
        self._data: OrderedDict[tuple[str, int, Hashable], Any] = OrderedDict()  # values of many types
        self._loading: dict[tuple[str, int, Hashable], asyncio.Future[Any]] = {}
        self.hits = 0
        self.misses = 0

    async def get(self, projection: str, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        seq = self._position(projection) if self._position else None
        if seq is None:
            return await load()
        full = (projection, seq, key)
        if full in self._data:
            self.hits += 1
            self._data.move_to_end(full)
            cached: T = self._data[full]
            return cached
        loading = self._loading.get(full)
        if loading is not None:  # the same read is under way: share it rather than repeat it
            self.hits += 1
            shared: T = await asyncio.shield(loading)
            return shared
        self.misses += 1
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._loading[full] = future
        try:
            value = await load()  # read after the position was taken: never older than the key says
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a failed read is reported to each caller, not logged as lost
            raise
        finally:
            del self._loading[full]
        future.set_result(value)
        self._data[full] = value
        while len(self._data) > self._maxsize:
            self._data.popitem(last=False)
        return value
