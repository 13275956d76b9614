"""The load generator: fixed concurrency or an arrival schedule, spread over worker processes.

Each worker runs its own event loop over keep-alive connections, sends pre-built request bytes, stamps
each socket read before parsing it, and decodes the stream only after the response has ended. Workers
share one absolute start time (CLOCK_MONOTONIC is system-wide), so their records line up.
"""

import asyncio
import contextlib
import gc
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import IO

import msgspec

from kitt.bench.columns import RecordColumns
from kitt.bench.loadplan import LoadPlan, LoadResult, OnRecords
from kitt.bench.records import RequestRecord, WorkerStats
from kitt.bench.schedule import Schedule
from kitt.bench.worker import Worker

__all__ = ["LoadGenError", "LoadPlan", "LoadResult", "OnRecords", "run", "split"]


def poisson_arrivals(rate: float, count: int, *, burstiness: float = 1.0, seed: int = 0) -> tuple[float, ...]:
    """Send times for `count` requests at `rate` per second, held (a Schedule makes them as needed)."""
    return tuple(Schedule(rate=rate, count=count, burstiness=burstiness, seed=seed).times())


def constant_arrivals(rate: float, count: int) -> tuple[float, ...]:
    return tuple(Schedule(rate=rate, count=count, arrival="constant").times())


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
    scheduled = plan.schedule.count if plan.schedule is not None else 0
    return [p for w, p in enumerate(plans) if p.concurrency or p.arrivals or w < scheduled]


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

    stats = asyncio.run(Worker(plan, worker, t0, emit).run())
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
        # This process may hold a lot (a whole test session, an API): its first full collection can take
        # longer than the start delay, and would send the first scheduled requests late. Collect first.
        gc.collect()
        t0 = time.perf_counter() + start_delay_s
        stats = [await Worker(plan, 0, t0, emit).run()]
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
                async with asyncio.timeout(5):  # it has sent everything: let it exit
                    await proc.wait()
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
