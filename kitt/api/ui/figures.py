"""The charts of a run and of a comparison, taken from result documents (repeated passes are averaged)."""

from collections import defaultdict
from collections.abc import Sequence
from statistics import fmean

from markupsafe import Markup

from kitt.api.ui.charts import Series, bar_chart, line_chart
from kitt.events.results import BenchmarkResult, ResultDocument
from kitt.storage.compare import Comparison

LATENCIES: tuple[tuple[str, str], ...] = (
    ("ttft", "Time to first token"),
    ("itl", "Inter-token latency"),
    ("tpot", "Time per output token"),
)
LATENCIES += (("e2e", "End-to-end latency"),)
LEVEL_KEYS = ("concurrency", "rate")


def _level(labels: dict[str, str]) -> tuple[str, float] | None:
    for key in LEVEL_KEYS:
        if key in labels:
            try:
                return key, float(labels[key])
            except ValueError:
                return None
    return None


def _performance(doc: ResultDocument) -> list[BenchmarkResult]:
    return [b for b in doc.benchmarks if b.kind == "performance" and b.status in ("succeeded", "invalid")]


def throughput(docs: Sequence[ResultDocument], *, per_run: bool = False) -> Markup | None:
    """Output throughput against the offered load: one line per benchmark (or per run, comparing)."""
    series: list[Series] = []
    axis = "concurrency"
    for doc in docs:
        for bench in _performance(doc):
            by_level: dict[float, list[float]] = defaultdict(list)
            for m in bench.metrics:
                level = _level(m.labels)
                if m.name == "output_throughput" and level and m.value is not None:
                    axis = level[0]
                    by_level[level[1]].append(m.value)
            if by_level:
                name = f"{doc.info.engine} {doc.run_id[-6:]}" if per_run else bench.name
                series.append(Series(name, [(x, fmean(v)) for x, v in sorted(by_level.items())]))
    if not series:
        return None
    x_label = "concurrent requests" if axis == "concurrency" else "offered rate (req/s)"
    return line_chart("Throughput vs load", series, x_label=x_label, y_label="output tok/s")


def latency_distributions(doc: ResultDocument) -> list[Markup]:
    """For each latency, its percentiles (p50 … p99.9) at each load level: the shape of the distribution."""
    charts: list[Markup] = []
    for metric, title in LATENCIES:
        grouped: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        for bench in _performance(doc):
            for m in bench.metrics:
                level = _level(m.labels)
                if m.name != metric or not m.percentile or m.value is None or level is None:
                    continue
                name = f"{bench.name} @{level[1]:g}"
                grouped[name][float(m.percentile[1:])].append(m.value)
        series = [Series(n, [(q, fmean(v)) for q, v in sorted(p.items())]) for n, p in grouped.items()]
        if series:
            charts.append(line_chart(title, series, x_label="percentile", y_label="ms"))
    return charts


def comparison_bars(comparison: Comparison) -> Markup | None:
    """Each headline figure as a percentage of the baseline's, one bar per run."""
    rows = [r for r in comparison.rows if r.values and r.values[0]][:8]
    if not rows:
        return None
    categories = [f"{r.metric}{' ' + r.percentile if r.percentile else ''}" for r in rows]
    series = []
    for i, run in enumerate(comparison.runs):
        points = [
            (float(c), (r.values[i] or 0.0) / r.values[0] * 100)
            for c, r in enumerate(rows)
            if r.values[i] is not None and r.values[0]
        ]
        series.append(Series(f"{run.engine} {run.run_id[-6:]}", points))
    return bar_chart("Headline figures, % of the baseline", categories, series, y_label="% of baseline")
