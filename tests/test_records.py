"""Per-request records out of band: written as they come to the RECORDS stream, read back whole or refused.

Real nats-server and databases; the load comes from the stub server (`kitt.bench.stubserver`) run as its own
process, as a user would run it.
"""

import asyncio
from pathlib import Path

import httpx
import msgspec
import pytest
from sqlalchemy import select

from kitt.bench import recordstore
from kitt.engines.external import ExternalRuntime
from kitt.events import streams, subjects
from kitt.events.ids import uuid7
from kitt.events.results import RecordsRef
from kitt.orchestration.executor import Executor, RunRequest
from kitt.orchestration.reporting import CommandReporter
from kitt.projections.models import BenchmarkRow
from kitt.storage import queries, records
from kitt.storage.checkpoints import wait_for_checkpoint
from tests.stubprocess import running_stub
from tests.waiting import eventually

LOAD_SUITE = """
name: load
tests:
  - kind: performance
    name: load
    concurrency: [64]
    max_requests: {requests}
    warmup_requests: 0
    workers: 2
    input_tokens: 4
sampling: {{max_tokens: 4}}
"""


def stub_request(url: str, suite: Path) -> RunRequest:
    """A run of SUITE against the stub server at URL, benchmarked as an external vLLM endpoint."""
    return RunRequest(
        run_id=uuid7(), model="stub", engine="vllm", runtime="external", endpoint=url, suite=str(suite)
    )


@pytest.fixture
def stub_process():
    with running_stub() as url:
        yield url


async def test_records_round_trip_in_chunks_with_their_digest(nc):
    subject = subjects.records("agent-1", "run-1", 0)
    writer = recordstore.SampleWriter(recordstore.StoredPublish(nc), subject, chunk_bytes=1024)
    samples = [{"index": i, "e2e_ms": i * 1.5, "error": None, "warmup": i == 0} for i in range(500)]
    writer.add_many(samples)
    ref = await writer.close()
    assert ref is not None and ref.count == 500 and ref.chunks > 10 and ref.subject == subject
    assert await recordstore.read_all(nc, ref) == samples
    info = await nc.jetstream().stream_info(streams.RECORDS, subjects_filter=subject)
    assert info.state.messages == ref.chunks
    # Nothing written: no reference at all.
    assert await recordstore.SampleWriter(recordstore.StoredPublish(nc), "rec.a.b.1").close() is None


async def test_records_that_are_not_whole_are_refused(nc):
    writer = recordstore.SampleWriter(recordstore.StoredPublish(nc), subjects.records("a", "r", 0))
    writer.add_many({"index": i} for i in range(10))
    ref = await writer.close()
    assert ref is not None
    missing = msgspec.structs.replace(ref, chunks=ref.chunks + 1)
    with pytest.raises(recordstore.RecordsError, match="chunk 2 of 2 is missing"):
        [s async for s in recordstore.read(nc, missing, timeout_s=0.5)]
    altered = msgspec.structs.replace(ref, sha256="0" * 64)
    with pytest.raises(recordstore.RecordsError, match="expected 10 records with digest 000000000000"):
        await recordstore.read_all(nc, altered)
    nowhere = RecordsRef(subject="rec.a.r.9", count=1, chunks=1, bytes=10, sha256="0" * 64)
    with pytest.raises(recordstore.RecordsError, match="chunk 1 of 1 is missing"):
        [s async for s in recordstore.read(nc, nowhere, timeout_s=0.5)]


async def test_a_benchmark_of_20000_requests_lands_completely(runtime, stub_process, tmp_path):
    """The seed's crash: ~10,000 records in one event broke the 8 MiB limit. Now they travel out of band."""
    suite = tmp_path / "load.yaml"
    suite.write_text(LOAD_SUITE.format(requests=20_000))
    request = stub_request(stub_process, suite)
    outcome = await Executor(CommandReporter(runtime.nc), home=runtime.settings.home).run(request)
    assert outcome.status == "succeeded", outcome.error
    assert await wait_for_checkpoint(runtime.engine, "karr", outcome.seq)
    [doc] = await queries.documents(runtime.engine, [outcome.run_id])
    load = doc.benchmarks[0]
    assert load.samples == () and load.records is not None and load.records.count == 20_000
    completed = {m.name: m.value for m in load.metrics if not m.labels.get("stat") and not m.percentile}
    assert completed["completed"] == 20_000 and completed["failed"] == 0
    async with runtime.engine.connect() as conn:
        counted = (
            await conn.execute(
                select(BenchmarkRow.name, BenchmarkRow.sample_count).where(
                    BenchmarkRow.run_id == outcome.run_id
                )
            )
        ).all()
        assert sorted(map(tuple, counted)) == [("load", 20_000), ("warmup", 0)]
    exported = await records.inlined(runtime.nc, doc)  # what `kitt storage export` writes
    samples = exported.benchmarks[0].samples
    assert len(samples) == 20_000 and len({s["index"] for s in samples}) == 20_000
    assert all(s["error"] is None and s["output_tokens"] == 4 for s in samples)
    # No event of the run is anywhere near a size limit.
    js = runtime.nc.jetstream()
    sub = await js.subscribe(subjects.aggregate_filter("run", outcome.run_id), ordered_consumer=True)
    sizes = []
    while True:
        try:
            sizes.append(len((await sub.next_msg(timeout=1)).data))
        except TimeoutError:
            break
    await sub.unsubscribe()
    assert sizes and max(sizes) < 64 * 1024, sizes


class _BreaksMidRun(ExternalRuntime):
    """An engine runtime whose health check raises an error the executor has never heard of."""

    calls = 0

    async def alive(self) -> bool:
        type(self).calls += 1
        if self.calls > 2:
            raise ZeroDivisionError("injected mid-run")
        return True


async def test_an_unexpected_exception_finishes_the_run_as_failed(runtime, stub_process, tmp_path):
    suite = tmp_path / "load.yaml"
    suite.write_text(LOAD_SUITE.format(requests=200_000))
    request = stub_request(stub_process, suite)
    executor = Executor(
        CommandReporter(runtime.nc),
        home=runtime.settings.home,
        runtimes=lambda r: _BreaksMidRun(r.endpoint or ""),
    )
    outcome = await asyncio.wait_for(executor.run(request), 60)
    assert outcome.status == "failed" and outcome.error == "ZeroDivisionError: injected mid-run"
    assert await wait_for_checkpoint(runtime.engine, "karr", outcome.seq)
    [doc] = await queries.documents(runtime.engine, [outcome.run_id])
    assert doc.status == "failed" and doc.error == "ZeroDivisionError: injected mid-run"


async def test_a_cancelled_run_is_recorded_and_the_cancellation_goes_on(runtime, stub_process, tmp_path):
    suite = tmp_path / "load.yaml"
    suite.write_text(LOAD_SUITE.format(requests=200_000))
    request = stub_request(stub_process, suite)
    task = asyncio.create_task(Executor(CommandReporter(runtime.nc), home=runtime.settings.home).run(request))

    async def under_way() -> bool:  # the stub has answered requests: the benchmark is mid-run
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{stub_process}/truth")).json()["completed"] >= 200

    await eventually(under_way, 60, 0.1, what="the stub to complete 200 requests")
    task.cancel()
    for _ in range(3):
        await asyncio.sleep(0)  # a yield, not a wait: the task is now inside its wind-up
    task.cancel()  # a second cancel while the run is being wound up must not lose its record
    with pytest.raises(asyncio.CancelledError):
        await task

    async def recorded():
        found = await queries.documents(runtime.engine, [request.run_id])
        return found and found[0].status == "cancelled"

    await eventually(recorded, 15, 0.1, what="the cancelled run in KARR")
