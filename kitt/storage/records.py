"""Result documents with their records inline (files) or out of band (events): the two forms of one run.

KARR and the events hold a `RecordsRef` per benchmark; an exported file holds the samples themselves, so
it is complete without the server. Import writes the samples back to the RECORDS stream first.
"""

import msgspec
from nats.aio.client import Client

from kitt.bench import recordstore
from kitt.bench.columns import RecordColumns
from kitt.bench.records import RequestRecord
from kitt.events import subjects
from kitt.events.results import BenchmarkResult, RecordsRef, ResultDocument, Sample
from kitt.events.validity import LEVEL_KEYS

IMPORTED = "import"  # the records subject's agent token for imported runs


async def samples_of(nc: Client, result: BenchmarkResult) -> list[Sample]:
    """A benchmark's records, wherever they are. Raises recordstore.RecordsError when they are not whole."""
    if result.records is None:
        return list(result.samples)
    return await recordstore.read_all(nc, result.records)


async def inlined(nc: Client, doc: ResultDocument) -> ResultDocument:
    """The document as a file holds it: every benchmark's records inline, no reference to a stream."""
    benchmarks = []
    for result in doc.benchmarks:
        if result.records is not None:
            samples = tuple(await recordstore.read_all(nc, result.records))
            result = msgspec.structs.replace(result, samples=samples, records=None)
        if result.telemetry_records is not None:
            rows = tuple(await recordstore.read_all(nc, result.telemetry_records))
            result = msgspec.structs.replace(result, telemetry=rows, telemetry_records=None)
        benchmarks.append(result)
    return msgspec.structs.replace(doc, benchmarks=tuple(benchmarks))


async def outlined(nc: Client, doc: ResultDocument) -> ResultDocument:
    """The document as an event holds it: inline records written to RECORDS and replaced by a reference.

    The subject and the chunks are derived from the run, so importing the same file again writes the
    same chunks (deduplicated, or read past: a reader takes the first `chunks` messages).
    """
    publish = recordstore.StoredPublish(nc)
    benchmarks = []
    for position, result in enumerate(doc.benchmarks):
        subject = subjects.records(IMPORTED, doc.run_id, position)
        if result.samples:
            result = msgspec.structs.replace(
                result, samples=(), records=await _write(publish, subject, result.samples)
            )
        if result.telemetry:
            ref = await _write(publish, subjects.telemetry(subject), result.telemetry)
            result = msgspec.structs.replace(result, telemetry=(), telemetry_records=ref)
        benchmarks.append(result)
    return msgspec.structs.replace(doc, benchmarks=tuple(benchmarks))


async def _write(
    publish: recordstore.Publish, subject: str, samples: tuple[Sample, ...]
) -> RecordsRef | None:
    writer = recordstore.SampleWriter(publish, subject)
    try:
        writer.add_many(samples)
        return await writer.close()
    finally:
        writer.abort()


async def telemetry_of(nc: Client, result: BenchmarkResult) -> list[Sample]:
    """A benchmark's per-second telemetry rows, wherever they are (none for most kinds)."""
    if result.telemetry_records is None:
        return list(result.telemetry)
    return await recordstore.read_all(nc, result.telemetry_records)


def level_of(sample: Sample) -> str:
    """The load level a record belongs to, as its benchmark's metrics label it (`concurrency=4 run 1`)."""
    level = next((f"{k}={sample[k]:g}" for k in LEVEL_KEYS if isinstance(sample.get(k), int | float)), "")
    run = sample.get("run")
    return f"{level} run {int(run) + 1}" if isinstance(run, int) and run > 0 else level


async def columns_by_level(nc: Client, result: BenchmarkResult) -> dict[str, RecordColumns]:
    """A benchmark's records folded into columns per level as they are read: memory stays flat."""
    out: dict[str, RecordColumns] = {}

    def fold(sample: Sample) -> None:
        level = out.setdefault(level_of(sample), RecordColumns(keep_offsets=True))
        level.add(RequestRecord.from_sample(sample))

    if result.records is None:
        for sample in result.samples:
            fold(sample)
    else:
        async for sample in recordstore.read(nc, result.records):
            fold(sample)
    return out
