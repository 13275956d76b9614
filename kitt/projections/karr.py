"""KARR projector: folds run events into runs, benchmark results, metrics and the full result document.

Written for batches: one SELECT for the runs a batch touches that the batch before did not, then three
bulk writes. Every run row carries the sequence of its last event, so a replayed batch changes nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kitt.events import subjects as subject_names
from kitt.events import validity
from kitt.events.envelope import StoredEvent
from kitt.events.results import BenchmarkResult, ResultDocument
from kitt.events.types import BenchmarkCompleted, EngineReady, RunFinished, RunStarted
from kitt.projections import sql
from kitt.projections.models import BenchmarkRow, MetricRow, RunRow, table
from kitt.projections.projection import Write

_runs = table(RunRow)
_benchmarks = table(BenchmarkRow)
_metrics = table(MetricRow)
_encoder = msgspec.json.Encoder()
_doc_decoder = msgspec.json.Decoder(ResultDocument)


@dataclass
class _Run:
    document: ResultDocument
    last_seq: int
    dirty: bool = False
    new: bool = False  # started in this batch: no row for it yet


@dataclass
class _Folded:
    """A batch folded in memory: the rows it writes, and the events it could not apply."""

    runs: dict[str, _Run]
    benchmarks: list[tuple[object, ...]]
    metrics: list[tuple[object, ...]]
    rejected: list[tuple[StoredEvent, str]]

    async def write(self, conn: AsyncConnection) -> list[tuple[StoredEvent, str]]:
        changed = [r for r in self.runs.values() if r.dirty]
        await sql.insert_new(conn, _runs, [_run_row(r) for r in changed if r.new])
        await sql.upsert_fast(conn, _runs, [_run_row(r) for r in changed if not r.new], key=("run_id",))
        # Children only of events newer than their run's `last_event_seq`: never written before.
        await sql.insert_new(conn, _benchmarks, self.benchmarks)
        await sql.insert_new(conn, _metrics, self.metrics)
        return self.rejected


class KarrProjection:
    """Pipelined: a batch is folded while the one before it is still being written (kitt.projections.runner).

    The runs the previous batch touched are carried in memory, as that batch leaves them; every other run
    a batch touches is read from the database, where no write in flight can change it.
    """

    name = "karr"
    subjects = (subject_names.aggregate_type_filter("run"),)
    tables = (_metrics, _benchmarks, _runs)

    def __init__(self) -> None:
        self._carried: dict[str, _Run] = {}

    def restart(self) -> None:
        self._carried = {}

    async def prepare(self, engine: AsyncEngine, events: Sequence[StoredEvent]) -> Write:
        wanted = {s.envelope.aggregate_id for s in events}
        runs = {
            i: _Run(self._carried[i].document, self._carried[i].last_seq)
            for i in wanted & self._carried.keys()
        }
        missing = list(wanted - runs.keys())
        if missing:
            async with engine.connect() as conn:
                runs.update(await _load(conn, missing))
        folded = _Folded(runs, [], [], [])
        _fold(folded, events)  # in one go: yielding to the write in flight every few hundred cost more
        self._carried = {i: run for i, run in folded.runs.items() if run.dirty}
        return folded.write

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        self._carried = {}
        runs = await _load(conn, list({s.envelope.aggregate_id for s in events}))
        folded = _Folded(runs, [], [], [])
        _fold(folded, events)
        return await folded.write(conn)


async def _load(conn: AsyncConnection, run_ids: list[str]) -> dict[str, _Run]:
    # Every run the batch touches, started here or not: a second start must be seen as one.
    columns = ("run_id", "document", "last_event_seq")
    return {
        run_id: _Run(_doc_decoder.decode(document), last_seq)
        for run_id, document, last_seq in await sql.rows_by_key(conn, _runs, "run_id", run_ids, columns)
    }


def _fold(folded: _Folded, events: Sequence[StoredEvent]) -> None:
    runs = folded.runs
    for stored in events:
        run_id = stored.envelope.aggregate_id
        event = stored.envelope.event
        run = runs.get(run_id)
        if run is not None and stored.seq <= run.last_seq:
            continue  # already applied: a replay
        if isinstance(event, RunStarted):
            if run is not None:
                folded.rejected.append((stored, f"run {run_id} was already started"))
                continue
            document = ResultDocument(run_id=run_id, info=event.info)
            runs[run_id] = _Run(document, stored.seq, dirty=True, new=True)
            continue
        if run is None:
            folded.rejected.append(
                (stored, f"{stored.envelope.type} for run {run_id}, which was never started")
            )
            continue
        if isinstance(event, BenchmarkCompleted):
            position = len(run.document.benchmarks)
            folded.benchmarks.append(_benchmark_row(run_id, position, event.result))
            folded.metrics.extend(_metric_rows(run_id, position, event.result))
            run.document = msgspec.structs.replace(
                run.document, benchmarks=(*run.document.benchmarks, event.result)
            )
        elif isinstance(event, EngineReady):
            info = msgspec.structs.replace(
                run.document.info,
                engine_version=event.engine_version or run.document.info.engine_version,
                engine_image=event.engine_image or run.document.info.engine_image,
                engine_image_id=event.engine_image_id or run.document.info.engine_image_id,
                runtime=event.runtime,
                engine_args=event.engine_args or run.document.info.engine_args,
            )
            run.document = msgspec.structs.replace(run.document, info=info)
        elif isinstance(event, RunFinished):
            run.document = msgspec.structs.replace(
                run.document, status=event.status, finished_at=event.finished_at, error=event.error
            )
        run.last_seq = stored.seq
        run.dirty = True


def _utc(value: datetime | None) -> datetime | None:
    # SQLite keeps no offset: store every instant in UTC so both backends sort and compare alike.
    return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value


# Rows are tuples in their table's column order (see sql.insert_new).


def _run_row(run: _Run) -> tuple[object, ...]:
    doc = run.document
    info = doc.info
    duration = (doc.finished_at - info.started_at).total_seconds() if doc.finished_at else None
    return (
        doc.run_id,
        info.model,
        info.engine,
        info.engine_version,
        info.engine_image,
        info.suite,
        info.agent,
        info.kitt_version,
        info.simulated,
        doc.status,
        doc.error,
        info.hardware.fingerprint if info.hardware else None,
        _utc(info.started_at),
        _utc(doc.finished_at),
        duration,
        len(doc.benchmarks),
        validity.count(doc.benchmarks),
        _encoder.encode(doc).decode(),
        run.last_seq,
    )


def _benchmark_row(run_id: str, position: int, result: BenchmarkResult) -> tuple[object, ...]:
    return (
        run_id,
        position,
        result.name,
        result.kind,
        result.mode,
        result.status,
        result.error,
        _utc(result.started_at),
        _utc(result.finished_at),
        result.records.count if result.records is not None else len(result.samples),
    )


def _metric_rows(run_id: str, position: int, result: BenchmarkResult) -> list[tuple[object, ...]]:
    return [
        (
            run_id,
            position,
            index,
            metric.name,
            metric.value,
            metric.unit,
            metric.percentile,
            _encoder.encode(metric.labels).decode() if metric.labels else "{}",
        )
        for index, metric in enumerate(result.metrics)
    ]
