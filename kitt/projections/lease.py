"""One writer per projection across processes: a lease in JetStream's key-value store.

Several `kitt project` (and `kitt serve`) processes may run the same projection for availability; the
lease makes one of them write while the others wait. The holder owns key `<projection>` in the
KITT_LEASES bucket: it creates the key (which fails while another holds it) and renews it every third of
the TTL with a compare-and-set on the revision it last wrote. The bucket's TTL ages out a key nobody
renews, so when the holder dies another process takes over within a TTL; a holder that cannot renew for a
TTL (partitioned from NATS) stops projecting.

The lease is an efficiency and clarity measure, not the safety net: a holder that lost its lease while
writing a batch can still commit it, and the checkpoint's compare-and-set in that same transaction (see
runner.advance_checkpoint) is what guarantees no event is applied twice.
"""

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable, Callable

import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.js.kv import KeyValue

log = structlog.get_logger(__name__)

BUCKET = "KITT_LEASES"
TTL_S = 10.0


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    def __init__(
        self, nc: Client, name: str, *, ttl_s: float = TTL_S, replicas: int = 1, owner: str | None = None
    ) -> None:
        self._nc, self.name, self.ttl_s, self._replicas = nc, name, ttl_s, replicas
        self.owner = owner or owner_id()
        self.held = False

    async def _bucket(self) -> KeyValue:
        js = self._nc.jetstream()
        try:
            return await js.key_value(BUCKET)
        except nats.js.errors.BucketNotFoundError:
            return await js.create_key_value(
                bucket=BUCKET, ttl=self.ttl_s, history=1, replicas=self._replicas
            )

    async def _acquire(self, kv: KeyValue) -> int | None:
        try:
            return await kv.create(self.name, self.owner.encode())
        except nats.js.errors.KeyWrongLastSequenceError:
            return None  # held by another process

    async def hold(self, stop: asyncio.Event, work: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        """Run `work` while holding the lease, until `stop`; wait while another process holds it."""
        while not stop.is_set():
            try:
                kv = await self._bucket()
                revision = await self._acquire(kv)
            except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as exc:
                log.warning("lease unavailable; retrying", lease=self.name, error=str(exc))
                revision = None
                kv = None
            if revision is None or kv is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.ttl_s / 3)
                continue
            log.info("lease acquired", lease=self.name, owner=self.owner)
            await self._run_holding(kv, revision, stop, work)

    async def _run_holding(
        self,
        kv: KeyValue,
        revision: int,
        stop: asyncio.Event,
        work: Callable[[asyncio.Event], Awaitable[None]],
    ) -> None:
        inner, lost = asyncio.Event(), asyncio.Event()
        self.held = True
        renewing = asyncio.create_task(self._renew(kv, revision, lost))
        relay = asyncio.create_task(_first_of(stop, lost, then=inner))
        try:
            await work(inner)
        finally:
            self.held = False
            renewing.cancel()
            relay.cancel()
            final = await asyncio.gather(renewing, return_exceptions=True)
            if stop.is_set() and not lost.is_set():
                last = final[0] if isinstance(final[0], int) else None
                await self._release(kv, last)
        if lost.is_set():
            log.warning("lease lost; waiting to take it again", lease=self.name, owner=self.owner)

    async def _renew(self, kv: KeyValue, revision: int, lost: asyncio.Event) -> int:
        renewed_at = time.monotonic()
        try:
            while True:
                await asyncio.sleep(self.ttl_s / 3)
                try:
                    revision = await kv.update(self.name, self.owner.encode(), last=revision)
                    renewed_at = time.monotonic()
                except nats.js.errors.KeyWrongLastSequenceError:
                    lost.set()  # it aged out and another process took it
                    return revision
                except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as exc:
                    if time.monotonic() - renewed_at >= self.ttl_s:
                        lost.set()  # unrenewed for a TTL: another process may hold it by now
                        return revision
                    log.warning("lease renewal failed; retrying", lease=self.name, error=str(exc))
        except asyncio.CancelledError:
            return revision

    async def _release(self, kv: KeyValue, revision: int | None) -> None:
        """Hand the lease over at once on a clean stop (else the next holder waits out the TTL)."""
        with contextlib.suppress(nats.errors.Error, nats.js.errors.Error, TimeoutError):
            await kv.delete(self.name, last=revision)


async def _first_of(a: asyncio.Event, b: asyncio.Event, *, then: asyncio.Event) -> None:
    waits = {asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        then.set()
    finally:
        for w in waits:
            w.cancel()
