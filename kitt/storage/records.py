"""Result documents with their records inline (files) or out of band (events): the two forms of one run.

KARR and the events hold a `RecordsRef` per benchmark; an exported file holds the samples themselves, so
it is complete without the server. Import writes the samples back to the RECORDS stream first.
"""

import msgspec
from nats.aio.client import Client

from kitt.bench import recordstore
from kitt.events import subjects
from kitt.events.results import BenchmarkResult, ResultDocument, Sample

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
        if result.samples:
            writer = recordstore.SampleWriter(publish, subjects.records(IMPORTED, doc.run_id, position))
            try:
                writer.add_many(result.samples)
                result = msgspec.structs.replace(result, samples=(), records=await writer.close())
            finally:
                writer.abort()
        benchmarks.append(result)
    return msgspec.structs.replace(doc, benchmarks=tuple(benchmarks))
