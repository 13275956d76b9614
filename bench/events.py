"""Event ingest and projection throughput, printed (not asserted).

For each backend (SQLite, PostgreSQL):
  (a) append rate: N ~1 KB run events published to JetStream with pipelined acks;
  (b) end to end: from the first publish until the KARR projector (a separate `kitt project` process, as in
      production) has committed the last sequence;
  (c) projection lag percentiles at a fixed offered rate.

    python bench/events.py --events 100000 --rate 5000 --seconds 10
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import nats
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kitt.events import codec, streams, subjects
from kitt.events.envelope import Envelope
from kitt.events.ids import uuid7
from kitt.events.wire import Address, Wire, connect
from kitt.projections import migrate
from kitt.projections.db import create_engine
from kitt.projections.models import Checkpoint
from kitt.runtime.nats_server import NatsServer
from tests.factories import document, run_events

PG_ADMIN = os.environ.get("KITT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


Message = tuple[str, bytes, dict[str, str]]


def build_messages(n_events: int, prefix: str) -> list[Message]:
    """Realistic run events: RunStarted (hardware), BenchmarkCompleted (metrics, samples), RunFinished."""
    out: list[Message] = []
    run = 0
    while len(out) < n_events:
        envelopes: list[Envelope] = run_events(document(f"{prefix}-{run}", seed=run % 50))
        for env in envelopes:
            data, headers = codec.encode(env)
            headers["Nats-Msg-Id"] = env.event_id
            out.append((subjects.event(env.aggregate, env.aggregate_id, env.type), data, headers))
        run += 1
    return out[: n_events - (n_events % 4) or n_events]


class Publisher:
    """The load: every event published with its ack checked, acks pipelined up to `window`.

    It writes through KITT's lean wire connection so that the producer, which shares these two cores with
    the server and the projector, is not what the end-to-end figure measures (nats-py's `publish_async`
    costs ~45 µs of CPU per event here; this ~10)."""

    def __init__(self, wire: Wire, window: int = 4000) -> None:
        self._wire = wire
        self._window = window
        self._inbox = f"_INBOX.{uuid7().replace('-', '')}"
        self._outstanding = 0
        self._room = asyncio.Event()
        self.errors: list[str] = []

    def start(self) -> None:
        self._wire.subscribe(self._inbox + ".*", self._on_ack)

    def _on_ack(self, _subject: bytes, _reply: bytes, headers: bytes, payload: bytes) -> None:
        self._outstanding -= 1
        if headers or b'"error"' in payload:  # 503 no responders, or JetStream refused the event
            self.errors.append((headers or payload).decode(errors="replace"))
        if self._outstanding < self._window:
            self._room.set()

    async def publish(self, messages: list[Message], rate: float | None = None) -> list[float]:
        """Publish on an absolute schedule when `rate` is given; return each send time."""
        sent: list[float] = []
        start = time.perf_counter()
        for i, (subject, data, headers) in enumerate(messages):
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            while self._outstanding >= self._window:
                self._room.clear()
                await self._room.wait()
            sent.append(time.perf_counter())
            self._outstanding += 1
            block = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            self._wire.publish(subject, data, reply=f"{self._inbox}.{i}", headers=block.encode())
        while self._outstanding:
            self._room.clear()
            await self._room.wait()
        if self.errors:
            raise RuntimeError(f"{len(self.errors)} events refused, first: {self.errors[0]}")
        return sent


async def publish_nats_py(js, messages: list[Message]) -> None:
    for subject, data, headers in messages:
        await js.publish_async(subject, data, headers=headers)
    await js.publish_async_completed()


async def checkpoint(engine) -> int | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(Checkpoint.last_seq).where(Checkpoint.name == "karr"))).first()
    return row[0] if row else None


def start_projector(nats_url: str, db_url: str) -> subprocess.Popen:
    env = {**os.environ, "KITT_NATS_URL": nats_url, "KITT_DATABASE_URL": db_url}
    cmd = [sys.executable, "-m", "kitt.cli.main", "--log-level", "warning", "project", "--only", "karr"]
    return subprocess.Popen(cmd, env=env)


async def one_backend(name: str, db_url: str, n_events: int, rate: float, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(Path(tmp) / "nats")
        server.start()
        engine = create_engine(db_url)
        await migrate.upgrade(engine)
        nc = await nats.connect(server.url)
        js = nc.jetstream(publish_async_max_pending=4000)
        await streams.apply(js)
        wire = await connect(Address(server.url), name="bench-publisher")
        publisher = Publisher(wire)
        publisher.start()
        messages = build_messages(n_events, "bulk")
        size = statistics.mean(len(d) for _, d, _ in messages)

        # (a) append rate alone: the pipelined publisher, then nats-py's publish_async for reference
        t0 = time.perf_counter()
        await publisher.publish(messages)
        append_s = time.perf_counter() - t0
        reference = build_messages(n_events // 5, "nats-py")
        t0 = time.perf_counter()
        await publish_nats_py(js, reference)
        nats_py_s = time.perf_counter() - t0
        last = (await js.stream_info(streams.EVENTS)).state.last_seq

        # (b) projection of the same events, then end to end with publishing concurrent
        proc = start_projector(server.url, db_url)
        while await checkpoint(engine) is None:  # its row appears once it has started (imports take ~1 s)
            await asyncio.sleep(0.002)
        t0 = time.perf_counter()
        while await checkpoint(engine) < last:
            await asyncio.sleep(0.01)
        catchup_s = time.perf_counter() - t0
        more = build_messages(n_events, "e2e")
        t0 = time.perf_counter()
        await publisher.publish(more)
        target = (await js.stream_info(streams.EVENTS)).state.last_seq
        while await checkpoint(engine) < target:
            await asyncio.sleep(0.01)
        e2e_s = time.perf_counter() - t0

        # (c) lag at a fixed offered rate
        paced = build_messages(int(rate * seconds), "paced")
        base = target
        lags: list[float] = []
        sent_task = asyncio.create_task(publisher.publish(paced, rate))
        seen = base
        while seen < base + len(paced):
            cp = await checkpoint(engine)
            if cp > seen:  # every event up to cp became visible in KARR by now
                lags.extend([time.perf_counter()] * (cp - seen))
                seen = cp
            await asyncio.sleep(0.005)
        sent_times = await sent_task
        lag_ms = sorted((lags[i] - sent_times[i]) * 1000 for i in range(len(sent_times)))
        proc.terminate()
        proc.wait(10)
        wire.close()
        await nc.close()
        await engine.dispose()
        server.stop()

    def pct(p: float) -> float:
        return lag_ms[min(len(lag_ms) - 1, int(p / 100 * len(lag_ms)))]

    print(f"\n== {name}  ({len(messages)} events, mean {size:.0f} B)")
    print(f"(a) append to JetStream:            {len(messages) / append_s:10,.0f} events/s")
    print(f"    (nats-py publish_async:         {len(reference) / nats_py_s:10,.0f} events/s)")
    print(f"    projection catch-up (backlog):  {last / catchup_s:10,.0f} events/s")
    print(f"(b) end to end (publish+project):   {len(more) / e2e_s:10,.0f} events/s")
    print(
        f"(c) lag at {rate:,.0f} events/s offered: p50 {pct(50):.0f} ms  p90 {pct(90):.0f} ms  "
        f"p99 {pct(99):.0f} ms  max {lag_ms[-1]:.0f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (tests/test_bench.py)")
    args = parser.parse_args()
    if args.smoke:
        args.events, args.rate, args.seconds = 500, 200, 1.0
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            await one_backend("SQLite", f"sqlite:///{tmp}/karr.db", args.events, args.rate, args.seconds)
    if args.backend in ("postgresql", "both"):
        name = f"kitt_bench_{os.getpid()}"
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
            await one_backend("PostgreSQL", url, args.events, args.rate, args.seconds)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
