"""The load generator: fixed concurrency or an arrival schedule, spread over worker processes.

Each worker runs its own event loop over keep-alive connections, sends pre-built request bytes, stamps
each socket read before parsing it, and decodes the stream only after the response has ended. Workers
share one absolute start time (CLOCK_MONOTONIC is system-wide), so their records line up.
"""

import asyncio
import contextlib
import gc
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Literal

import msgspec

from kitt.bench.columns import RecordColumns
from kitt.bench.records import RequestRecord, WorkerStats
from kitt.engines import dialects, httpconn
from kitt.engines.specs import Dialect as DialectName

LAG_TICK_S = 0.01


class LoadPlan(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int
    dialect: DialectName
    streams_usage: bool = True
    min_tokens: bool = False
    path: str
    bodies: tuple[bytes, ...]  # rotated through; built once
    mode: Literal["concurrency", "rate"] = "concurrency"
    concurrency: int = 1
    arrivals: tuple[float, ...] = ()  # rate mode: send times, seconds after t0
    max_requests: int | None = None
    max_duration_s: float | None = None
    warmup_requests: int = 0
    request_timeout_s: float = 300.0
    stride: int = 1  # workers sharing the plan: worker w's i-th request is request i * stride + w


class LoadResult(msgspec.Struct, kw_only=True):
    columns: RecordColumns  # every record, as columns; the records themselves went to `on_records`
    workers: list[WorkerStats]
    t0: float
    duration_s: float


OnRecords = Callable[[list[RequestRecord]], None]
EMIT_EVERY = 256  # records a worker hands on at a time: it keeps no more than this


def poisson_arrivals(rate: float, count: int, *, burstiness: float = 1.0, seed: int = 0) -> tuple[float, ...]:
    """Send times for `count` requests at `rate` per second (inf: all at once).

    Gaps are gamma-distributed with shape `burstiness` (1.0 is Poisson; lower is burstier), as in vLLM's
    serving benchmark.
    """
    if rate == float("inf"):
        return tuple(0.0 for _ in range(count))
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(count):
        out.append(t)
        t += rng.gammavariate(burstiness, 1.0 / (rate * burstiness))
    return tuple(out)


def constant_arrivals(rate: float, count: int) -> tuple[float, ...]:
    return tuple(i / rate for i in range(count))


SLOTS_PER_WORKER = 256


def default_workers(concurrency: int) -> int:
    """One worker per 256 concurrent streams, using at most half the cores.

    Measured on 2 cores shared with the server (bench/loadgen.py): one worker handles 256 streams at
    0.8 of a core, and a second worker there only competes with the server and costs accuracy. The
    engine under test needs the other cores.
    """
    cap = max(1, (os.cpu_count() or 1) // 2)
    return max(1, min(cap, -(-concurrency // SLOTS_PER_WORKER)))


def split(plan: LoadPlan, workers: int) -> list[LoadPlan]:
    """Share a plan between workers: concurrency slots, request budget and arrivals round-robin."""

    def share(total: int | None, w: int) -> int | None:
        return None if total is None else total // workers + (1 if w < total % workers else 0)

    plans = []
    for w in range(workers):
        concurrency = share(plan.concurrency, w) or 0
        plans.append(
            msgspec.structs.replace(
                plan,
                concurrency=concurrency,
                arrivals=plan.arrivals[w::workers],
                max_requests=share(plan.max_requests, w),
                warmup_requests=share(plan.warmup_requests, w) or 0,
                stride=workers,
            )
        )
    return [p for p in plans if p.concurrency or p.arrivals]


class _Worker:
    def __init__(self, plan: LoadPlan, worker: int, t0: float, emit: OnRecords) -> None:
        self.plan = plan
        self.emit = emit
        self.worker = worker
        self.t0 = t0
        self.dialect = dialects.for_engine(
            plan.dialect,
            streams_usage=plan.streams_usage,
            min_tokens=plan.min_tokens,
        )
        self.requests = [
            httpconn.build_request(plan.host, plan.port, "POST", plan.path, body, accept="text/event-stream")
            for body in plan.bodies
        ]
        self.batch: list[RequestRecord] = []
        self.issued = 0
        self.lag: list[float] = []
        self.lateness: list[float] = []
        self.idle: list[httpconn.Connection] = []
        self.open: set[httpconn.Connection] = set()  # closed when the worker ends, however it ends
        self.decoding: asyncio.Queue[tuple[RequestRecord, httpconn.Response]] = asyncio.Queue()
        self.running = True

    def _claim(self) -> int | None:
        plan = self.plan
        if plan.max_requests is not None and self.issued >= plan.max_requests + plan.warmup_requests:
            return None
        if plan.max_duration_s is not None and time.perf_counter() - self.t0 >= plan.max_duration_s:
            return None
        self.issued += 1
        return self.issued - 1

    async def _connection(self) -> httpconn.Connection:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
        return await self._fresh()

    async def _fresh(self) -> httpconn.Connection:
        conn = await httpconn.Connection.open(self.plan.host, self.plan.port)
        self.open.add(conn)
        return conn

    async def _one(self, index: int, scheduled: float | None) -> None:
        number = index * self.plan.stride + self.worker  # unique across workers; picks the prompt
        record = RequestRecord(index=number, worker=self.worker, start=0.0, scheduled=scheduled)
        record.warmup = index < self.plan.warmup_requests
        for attempt in range(2):
            try:
                conn = await (self._connection() if attempt == 0 else self._fresh())
            except httpconn.HttpError as exc:
                record.start = time.perf_counter() - self.t0
                record.error = str(exc)
                self._keep(record)
                return
            future = conn.request(self.requests[number % len(self.requests)])
            record.start = conn.sent_at - self.t0
            try:
                response = await asyncio.wait_for(future, self.plan.request_timeout_s)
            except TimeoutError:
                conn.close()
                record.end = time.perf_counter() - self.t0 - record.start
                record.error = f"no complete response within {self.plan.request_timeout_s:g}s"
                self._keep(record)
                return
            # A kept-alive connection the server had just closed: nothing was processed, so send again
            # on a new connection (as HTTP clients do for idle connections); a second failure counts.
            if response.status or not conn.reused:
                break
        if not conn.closed:
            self.idle.append(conn)
        self.decoding.put_nowait((record, response))

    def _keep(self, record: RequestRecord) -> None:
        self.batch.append(record)
        if len(self.batch) >= EMIT_EVERY:
            self._flush()

    def _flush(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self.emit(batch)

    async def _decode(self) -> None:
        """Decode finished responses one at a time, yielding between them.

        Streams that end together (they often do) would otherwise be decoded in one burst that delays
        every socket read behind it, and so every timestamp.
        """
        while True:
            record, response = await self.decoding.get()
            generation = dialects.decode_stream(self.dialect, response)
            sent = response.sent_at
            record.chunk_offsets = [t - sent for t in generation.chunk_times]
            record.end = response.ended_at - sent
            record.output_tokens = generation.output_tokens
            record.prompt_tokens = generation.prompt_tokens
            record.token_source = generation.token_source
            record.error = generation.error
            if record.error is None and not record.chunk_offsets:
                record.error = "the response carried no tokens"
            self._keep(record)
            self.decoding.task_done()
            await asyncio.sleep(0)

    async def _slot(self) -> None:
        while (index := self._claim()) is not None:
            await self._one(index, None)

    async def _schedule(self) -> None:
        tasks = set()
        for index, due in enumerate(self.plan.arrivals):
            if self.plan.max_duration_s is not None and due >= self.plan.max_duration_s:
                break
            delay = self.t0 + due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.lateness.append(max(0.0, (time.perf_counter() - self.t0 - due) * 1000))
            task = asyncio.create_task(self._one(index, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def _watch_loop(self) -> None:
        while self.running:
            before = time.perf_counter()
            await asyncio.sleep(LAG_TICK_S)
            self.lag.append(max(0.0, (time.perf_counter() - before - LAG_TICK_S) * 1000))

    async def _drive(self) -> None:
        watcher = asyncio.create_task(self._watch_loop())
        decoder = asyncio.create_task(self._decode())
        try:
            if self.plan.mode == "rate":
                await self._schedule()
            else:
                await asyncio.gather(*(self._slot() for _ in range(self.plan.concurrency)))
            self.running = False
            await watcher
            await self.decoding.join()
        finally:
            self.running = False
            watcher.cancel()
            decoder.cancel()

    async def _preconnect(self) -> None:
        # Fixed concurrency: every slot's connection is open before t0, so no first request pays for it.
        async def one() -> None:
            with contextlib.suppress(httpconn.HttpError):
                conn = await self._fresh()
                conn.preopened = True
                self.idle.append(conn)

        await asyncio.gather(*(one() for _ in range(self.plan.concurrency)))

    async def run(self) -> WorkerStats:
        gc_was_enabled = gc.isenabled()
        try:
            if self.plan.mode == "concurrency":
                await self._preconnect()
            delay = self.t0 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            # A full collection over thousands of live records pauses the loop for tens of ms, which
            # would show up as latency: collect before the clock starts and not while it runs.
            gc.collect()
            gc.disable()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await self._drive()
        finally:
            if gc_was_enabled:
                gc.enable()
            for conn in self.open:  # cancelled or not, leave no connection to the engine behind
                conn.close()
        self._flush()
        return WorkerStats(
            worker=self.worker,
            cpu_s=time.process_time() - cpu0,
            wall_s=time.perf_counter() - wall0,
            loop_lag_ms=self.lag,
            lateness_ms=self.lateness,
        )


_records = msgspec.msgpack.Decoder(list[RequestRecord])
_stats = msgspec.msgpack.Decoder(WorkerStats)


def worker_main() -> None:
    """A worker process: the plan arrives on stdin, then t0; records leave on stdout as they are made
    (msgpack frames, `R` + records), then the worker's own figures (`S` + stats)."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    plan = msgspec.msgpack.decode(_read_frame(stdin), type=LoadPlan)
    worker = int(sys.argv[1])
    _write_frame(stdout, b"ready")
    t0 = msgspec.msgpack.decode(_read_frame(stdin), type=float)

    def emit(batch: list[RequestRecord]) -> None:
        _write_frame(stdout, b"R" + msgspec.msgpack.encode(batch))

    stats = asyncio.run(_Worker(plan, worker, t0, emit).run())
    _write_frame(stdout, b"S" + msgspec.msgpack.encode(stats))


def _read_frame(stream: IO[bytes]) -> bytes:
    header = stream.read(4)
    if len(header) < 4:
        raise EOFError("load-generator worker pipe closed")
    size = int.from_bytes(header, "big")
    return stream.read(size)


def _write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(len(data).to_bytes(4, "big") + data)
    stream.flush()


async def _frame(proc: asyncio.subprocess.Process) -> bytes:
    assert proc.stdout is not None
    try:
        header = await proc.stdout.readexactly(4)
        return await proc.stdout.readexactly(int.from_bytes(header, "big"))
    except asyncio.IncompleteReadError:
        raise LoadGenError(f"load-generator worker exited (status {await proc.wait()})") from None


class LoadGenError(Exception):
    """A worker process failed: the level has no complete records."""


async def run(
    plan: LoadPlan, *, workers: int = 1, start_delay_s: float = 0.2, on_records: OnRecords | None = None
) -> LoadResult:
    """Run a plan. One worker runs in this event loop; more run in their own processes.

    Records are handed to `on_records` in batches as they are made, and folded into the result's
    columns; nothing keeps them all.
    """
    columns = RecordColumns()

    def emit(batch: list[RequestRecord]) -> None:
        columns.extend(batch)
        if on_records is not None:
            on_records(batch)

    if workers <= 1:
        t0 = time.perf_counter() + start_delay_s
        stats = [await _Worker(plan, 0, t0, emit).run()]
    else:
        t0, stats = await _run_processes(split(plan, workers), start_delay_s, emit)
    end = float((columns.start + columns.end).max()) if len(columns) else 0.0
    return LoadResult(columns=columns, workers=stats, t0=t0, duration_s=end)


async def _run_processes(
    plans: Sequence[LoadPlan], start_delay_s: float, emit: OnRecords
) -> tuple[float, list[WorkerStats]]:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from kitt.bench.loadgen import worker_main; worker_main()",
            str(w),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for w in range(len(plans))
    ]
    try:
        for proc, plan in zip(procs, plans, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(_framed(msgspec.msgpack.encode(plan)))
        for proc in procs:
            await _frame(proc)  # every worker has imported and connected: start together
        t0 = time.perf_counter() + start_delay_s
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(_framed(msgspec.msgpack.encode(t0)))
        stats = await asyncio.gather(*(_collect(proc, emit) for proc in procs))
        for proc in procs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5)  # it has sent everything: let it exit
    finally:
        for proc in procs:  # failed or cancelled: no worker outlives its level
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    return t0, list(stats)


async def _collect(proc: asyncio.subprocess.Process, emit: OnRecords) -> WorkerStats:
    while True:
        frame = await _frame(proc)
        if frame[:1] == b"R":
            emit(_records.decode(frame[1:]))
        else:
            return _stats.decode(frame[1:])


def _framed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data
