"""Runs x benchmarks x metrics as one flat table, for notebooks: `kitt storage export --format csv|parquet`.

One row per metric, with its run's and benchmark's columns repeated; labels as a JSON object, with the
load level (`concurrency`, `rate`) and `run` also in columns of their own so a sweep can be plotted at once.
"""

import csv
import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from kitt.events.results import ResultDocument

COLUMNS = (
    "run_id",
    "model",
    "engine",
    "engine_version",
    "runtime",
    "suite",
    "agent",
    "simulated",
    "run_status",
    "started_at",
    "finished_at",
    "hardware",
    "benchmark",
    "benchmark_position",
    "kind",
    "mode",
    "benchmark_status",
    "metric",
    "percentile",
    "value",
    "unit",
    "concurrency",
    "rate",
    "repeat",
    "labels",
)
Cell = str | int | float | bool | None


class ParquetUnavailable(Exception):
    pass


def rows(docs: Sequence[ResultDocument]) -> Iterator[tuple[Cell, ...]]:
    for doc in docs:
        info = doc.info
        run = (
            doc.run_id,
            info.model,
            info.engine,
            info.engine_version,
            info.runtime,
            info.suite,
            info.agent,
            info.simulated,
            doc.status,
            info.started_at.isoformat(),
            doc.finished_at.isoformat() if doc.finished_at else None,
            info.hardware.fingerprint if info.hardware else None,
        )
        for position, result in enumerate(doc.benchmarks):
            benchmark = (result.name, position, result.kind, result.mode, result.status)
            for m in result.metrics:
                labels = m.labels
                yield (
                    *run,
                    *benchmark,
                    m.name,
                    m.percentile,
                    m.value,
                    m.unit,
                    _number(labels.get("concurrency")),
                    _number(labels.get("rate")),
                    _number(labels.get("run")),
                    msgspec.json.encode(labels).decode() if labels else "{}",
                )


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def to_csv(docs: Sequence[ResultDocument]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows(docs))
    return out.getvalue().encode()


def write_parquet(docs: Sequence[ResultDocument], path: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ParquetUnavailable("--format parquet needs pyarrow: pip install 'kitt[parquet]'") from None
    columns = list(zip(*rows(docs), strict=True)) or [() for _ in COLUMNS]
    table = pa.table({name: list(values) for name, values in zip(COLUMNS, columns, strict=True)})
    pq.write_table(table, path)
