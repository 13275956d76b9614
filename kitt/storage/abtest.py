"""Two stored runs side by side: every performance level both measured, B against A, from their records."""

from collections.abc import Iterator, Sequence

from nats.aio.client import Client

from kitt.bench import errors, significance
from kitt.events.results import BenchmarkResult, ResultDocument
from kitt.storage import records


def pairs(
    a: Sequence[BenchmarkResult], b: Sequence[BenchmarkResult], only: str | None = None
) -> Iterator[tuple[str, BenchmarkResult, BenchmarkResult]]:
    """The performance benchmarks both runs have, by name, where both kept their records."""
    named_b = {r.name: r for r in b if r.kind == "performance"}
    for result in a:
        if result.kind != "performance" or (only is not None and result.name != only):
            continue
        other = named_b.get(result.name)
        if other is not None and (result.records or result.samples) and (other.records or other.samples):
            yield result.name, result, other


async def levels(
    nc: Client,
    run_a: ResultDocument,
    run_b: ResultDocument,
    *,
    metrics: tuple[str, ...] | None = None,
    benchmark: str | None = None,
) -> list[significance.LevelComparison]:
    """Raises recordstore.RecordsError when either run's records are not whole."""
    out: list[significance.LevelComparison] = []
    for name, result_a, result_b in pairs(run_a.benchmarks, run_b.benchmarks, benchmark):
        by_level_a = await records.columns_by_level(nc, result_a)
        by_level_b = await records.columns_by_level(nc, result_b)
        for level in sorted(by_level_a.keys() & by_level_b.keys()):
            a, b = by_level_a[level], by_level_b[level]
            out.append(
                significance.LevelComparison(
                    benchmark=name,
                    level=level,
                    differences=significance.ab(a, b, metrics),
                    failed_a=errors.describe(a.error_classes),
                    failed_b=errors.describe(b.error_classes),
                )
            )
    return out
