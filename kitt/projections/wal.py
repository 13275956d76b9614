"""SQLite's write-ahead log is checkpointed beside the projectors, not inside their commits.

SQLite copies the WAL back into the database (with an fsync) from whichever commit crosses
`wal_autocheckpoint` pages: on this machine that stall more than doubled the cost of writing a run. KITT's
connections raise that threshold to a safety bound, and each projector starts a PASSIVE checkpoint on
another pooled connection (its own thread) at most every `interval_s` after it commits — it neither waits
for it nor blocks on it, and a checkpoint never blocks a writer.
"""

import asyncio
import time

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

AUTOCHECKPOINT_PAGES = 10_000  # ~40 MiB: only reached when no projector is checkpointing


class WalCheckpoints:
    def __init__(self, engine: AsyncEngine, *, interval_s: float = 0.5) -> None:
        self._engine = engine
        self._enabled = engine.dialect.name == "sqlite"
        self._interval_s = interval_s
        self._last = 0.0
        self._task: asyncio.Task[None] | None = None

    def after_commit(self) -> None:
        if not self._enabled or (self._task is not None and not self._task.done()):
            return
        now = time.monotonic()
        if now - self._last >= self._interval_s:
            self._last = now
            self._task = asyncio.create_task(self._checkpoint(), name="sqlite-wal-checkpoint")

    async def _checkpoint(self) -> None:
        try:
            async with self._engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception as exc:  # the next commit tries again; the autocheckpoint bound still holds
            log.warning("WAL checkpoint failed", error=str(exc))

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=10)
