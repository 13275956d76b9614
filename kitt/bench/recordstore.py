"""A benchmark's per-request records, out of band: written as they come, read back whole or not at all.

Records are JSON lines (one `Sample` each) cut into chunks of at most `CHUNK_BYTES`, each a JetStream
message on the benchmark's own subject of the RECORDS stream (`rec.<agent>.<run>.<n>`). The event that
reports the benchmark carries only a `RecordsRef`: subject, counts and the digest of every chunk in order.
Memory stays bounded whatever the test's length: a writer holds one chunk and the chunks in flight.
"""

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

import msgspec
import nats.errors
from nats.aio.client import Client

from kitt.events import streams
from kitt.events.results import RecordsRef, Sample

# Close to the streams' chunk limit, as an agent's quota counts chunks of up to that size; a line longer than
# this (a very long answer's chunk times) goes in a chunk of its own.
CHUNK_BYTES = streams.RECORDS_CHUNK_LIMIT - 64 * 1024
IN_FLIGHT = 4  # chunks queued for publishing before `add` waits for them (see `SampleWriter.drain`)
PATIENCE_S = 300.0
HEADER_COUNT = "Kitt-Records"

_encoder = msgspec.json.Encoder()
_line = msgspec.json.Decoder(Sample)


class RecordsError(Exception):
    """Stored records are missing, altered or unreadable."""


class Publish(Protocol):
    async def __call__(self, subject: str, data: bytes, headers: dict[str, str]) -> None: ...


class StoredPublish:
    """Publish until JetStream has stored it: a NATS restart or a blip delays a chunk, never loses it.

    The message id makes a retry that did land the first time a no-op.
    """

    def __init__(self, nc: Client, *, patience_s: float = PATIENCE_S) -> None:
        self.js = nc.jetstream()
        self.patience_s = patience_s

    async def __call__(self, subject: str, data: bytes, headers: dict[str, str]) -> None:
        deadline = time.monotonic() + self.patience_s
        delay = 0.2
        while True:
            try:
                await self.js.publish(subject, data, headers=headers, timeout=10)
                return
            except (nats.errors.Error, TimeoutError, OSError) as exc:  # incl. "temporarily unavailable"
                if streams.quota_refusal(exc):  # waiting does not help: the records are kept forever
                    raise RecordsError(
                        f"records for {subject} were refused: this agent's records quota is used up "
                        f"({exc}); an admin may raise KITT_AGENT_RECORDS_QUOTA_GIB and run "
                        "`kitt streams apply`"
                    ) from exc
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


class SampleWriter:
    """Appends samples to one benchmark's records; `close` says where they are."""

    def __init__(self, publish: Publish, subject: str, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.publish = publish
        self.subject = subject
        self.chunk_bytes = chunk_bytes
        self._buffer = bytearray()
        self._in_buffer = 0
        self._digest = hashlib.sha256()
        self._count = 0
        self._chunks = 0
        self._bytes = 0
        self._pending: set[asyncio.Task[None]] = set()
        self._failed: BaseException | None = None

    def add(self, sample: Sample) -> None:
        line = _encoder.encode(sample) + b"\n"
        if self._buffer and len(self._buffer) + len(line) > self.chunk_bytes:
            self._cut()
        self._buffer += line
        self._in_buffer += 1
        self._count += 1

    def add_many(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            self.add(sample)

    @property
    def backlog(self) -> int:
        return len(self._pending)

    async def drain(self, below: int = IN_FLIGHT) -> None:
        """Wait until fewer than `below` chunks are in flight (1: all of them): back-pressure for a caller
        that can wait, so a stalled server cannot make the writer hold a whole test in memory."""
        while len(self._pending) >= below:
            await asyncio.wait(set(self._pending), return_when=asyncio.FIRST_COMPLETED)
        self._raise_failure()

    async def close(self) -> RecordsRef | None:
        """Publish what is left; None when no sample was written."""
        if self._buffer:
            self._cut()
        await self.drain(1)
        if not self._count:
            return None
        return RecordsRef(
            subject=self.subject,
            count=self._count,
            chunks=self._chunks,
            bytes=self._bytes,
            sha256=self._digest.hexdigest(),
        )

    def abort(self) -> None:
        for task in self._pending:
            task.cancel()

    def _cut(self) -> None:
        self._raise_failure()
        data = bytes(self._buffer)
        self._digest.update(data)
        headers = {"Nats-Msg-Id": f"{self.subject}:{self._chunks}", HEADER_COUNT: str(self._in_buffer)}
        self._chunks += 1
        self._bytes += len(data)
        self._buffer.clear()
        self._in_buffer = 0
        task = asyncio.ensure_future(self.publish(self.subject, data, headers))
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: "asyncio.Task[None]") -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failed is None:
            self._failed = task.exception()

    def _raise_failure(self) -> None:
        if isinstance(self._failed, RecordsError):
            raise self._failed
        if self._failed is not None:
            raise RecordsError(f"records for {self.subject} could not be stored: {self._failed}")


async def read(nc: Client, ref: RecordsRef, *, timeout_s: float = 10.0) -> AsyncIterator[Sample]:
    """Every record, in the order written. Raises RecordsError when they are not all there, unchanged.

    Samples are yielded chunk by chunk, as they arrive; the digest is checked after the last chunk, so a
    caller that keeps what it reads must discard it on RecordsError.
    """
    js = nc.jetstream()
    digest = hashlib.sha256()
    count = 0
    sub = await js.subscribe(ref.subject, ordered_consumer=True)
    try:
        for index in range(ref.chunks):
            try:
                msg = await sub.next_msg(timeout=timeout_s)
            except TimeoutError:
                raise RecordsError(
                    f"records {ref.subject}: chunk {index + 1} of {ref.chunks} is missing"
                ) from None
            digest.update(msg.data)
            for line in msg.data.splitlines():
                try:
                    sample = _line.decode(line)
                except msgspec.DecodeError as exc:
                    raise RecordsError(f"records {ref.subject}: chunk {index + 1}: {exc}") from None
                count += 1
                yield sample
    finally:
        await sub.unsubscribe()
    if digest.hexdigest() != ref.sha256 or count != ref.count:
        raise RecordsError(
            f"records {ref.subject}: expected {ref.count} records with digest {ref.sha256[:12]}…, "
            f"read {count} with {digest.hexdigest()[:12]}…"
        )


async def read_all(nc: Client, ref: RecordsRef) -> list[Sample]:
    return [sample async for sample in read(nc, ref)]
