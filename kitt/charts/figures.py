"""The charts of a run and of a comparison, taken from result documents (repeated passes are averaged)."""

from collections import defaultdict
from collections.abc import Sequence
from statistics import fmean

from markupsafe import Markup

from kitt.bench import telemetry
from kitt.charts.svg import Series, bar_chart, line_chart
from kitt.events.results import BenchmarkResult, ResultDocument, Sample
from kitt.storage.compare import Comparison
from kitt.storage.records import LEVEL_KEYS

LATENCIES: tuple[tuple[str, str], ...] = (
    ("ttft", "Time to first token"),
    ("itl", "Inter-token latency"),
    ("tpot", "Time per output token"),
)
LATENCIES += (("e2e", "End-to-end latency"),)


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
            charts.append(line_chart(title, series, x_label="percentile", y_label="ms", x_scale="percentile"))
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


def _figure_by_level(
    docs: Sequence[ResultDocument], name: str, percentile: str | None
) -> dict[str, dict[float, list[float]]]:
    """run label -> level -> values of one figure (passes of a level are averaged by the caller)."""
    out: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for doc in docs:
        for bench in _performance(doc):
            for m in bench.metrics:
                level = _level(m.labels)
                if m.name == name and m.percentile == percentile and level and m.value is not None:
                    out[f"{run_label(doc)} {bench.name}"][level[1]].append(m.value)
    return out


def run_label(doc: ResultDocument) -> str:
    return f"{doc.info.engine} {doc.run_id[-6:]}"


def latency_vs_load(docs: Sequence[ResultDocument], metric: str = "ttft") -> Markup | None:
    """A latency's p50 and p99 against the offered load: where the sweep starts to hurt."""
    series = []
    for percentile in ("p50", "p99"):
        for name, levels in _figure_by_level(docs, metric, percentile).items():
            points = [(x, fmean(v)) for x, v in sorted(levels.items())]
            series.append(Series(f"{name} {percentile}", points))
    if not series:
        return None
    title = dict(LATENCIES).get(metric, metric)
    return line_chart(f"{title} vs load", series, x_label="load level", y_label="ms")


def cdf(title: str, curves: Sequence[tuple[str, Sequence[float]]], *, points: int = 100) -> Markup | None:
    """Cumulative distributions (fraction of requests at or below x): one line per (name, values)."""
    series = []
    for name, values in curves:
        ordered = sorted(values)
        if not ordered:
            continue
        n = len(ordered)
        picks = sorted({min(n - 1, round(i * (n - 1) / (points - 1))) for i in range(points)})
        series.append(Series(name, [(ordered[i], (i + 1) / n) for i in picks]))
    if not series:
        return None
    return line_chart(title, series, x_label="ms", y_label="fraction of requests", markers=False)


def cdf_from_percentiles(doc: ResultDocument, metric: str = "ttft") -> Markup | None:
    """The same CDF from a run's stored percentiles (min, p50 ... p99.9, max), when records are not read."""
    curves: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for bench in _performance(doc):
        for m in bench.metrics:
            level = _level(m.labels)
            if m.name != metric or m.value is None or level is None:
                continue
            if m.percentile:
                fraction = float(m.percentile[1:]) / 100
            elif m.labels.get("stat") in ("min", "max"):
                fraction = 0.0 if m.labels["stat"] == "min" else 1.0
            else:
                continue
            curves[f"{bench.name} @{level[1]:g}"].append((m.value, fraction))
    series = [Series(name, sorted(points)) for name, points in curves.items() if len(points) > 2]
    if not series:
        return None
    title = f"{dict(LATENCIES).get(metric, metric)}: cumulative distribution"
    return line_chart(title, series, x_label="ms", y_label="fraction of requests", markers=True)


def pareto(docs: Sequence[ResultDocument], latency: str = "ttft", percentile: str = "p99") -> Markup | None:
    """Every run x level as (output throughput, p99 latency); the front: no other point is both faster
    and higher-throughput. Up and to the left is better."""
    tput = _figure_by_level(docs, "output_throughput", None)
    lat = _figure_by_level(docs, latency, percentile)
    points: list[tuple[str, float, float]] = []
    for name, levels in tput.items():
        for level, values in levels.items():
            if level in lat.get(name, {}):
                points.append((name, fmean(values), fmean(lat[name][level])))
    if not points:
        return None
    front = [
        (x, y)
        for _, x, y in points
        if not any(x2 >= x and y2 <= y and (x2, y2) != (x, y) for _, x2, y2 in points)
    ]
    series = [
        Series(name, [(x, y) for n, x, y in points if n == name])
        for name in dict.fromkeys(p[0] for p in points)
    ]
    series.append(Series("Pareto front", sorted(front)))
    lines = [False] * (len(series) - 1) + [True]
    title = f"Throughput vs {latency} {percentile} (the front: best trade-offs)"
    return line_chart(
        title, series, x_label="output tok/s", y_label=f"{latency} {percentile} (ms)", lines=lines
    )


ENGINE_CHARTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Engine: requests running and waiting", ("requests_running", "requests_waiting"), "requests"),
    ("Engine: tokens per second", ("generation_tokens", "prompt_tokens", "prefix_cache_hits"), "tok/s"),
    ("Engine: KV-cache usage", ("kv_cache_usage",), "%"),
)


def engine_vs_load(docs: Sequence[ResultDocument]) -> list[Markup]:
    """What the engine reported of itself at each level (its Prometheus metrics: mean and max), to read
    under the client's curves: queueing, cache pressure, the tokens it processed."""
    charts: list[Markup] = []
    for title, names, unit in ENGINE_CHARTS:
        grouped: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        for doc in docs:
            for bench in _performance(doc):
                for m in bench.metrics:
                    level = _level(m.labels)
                    short = m.name.removeprefix("engine_")
                    if short not in names or m.name == short or level is None or m.value is None:
                        continue
                    run = f"{run_label(doc)} " if len(docs) > 1 else ""
                    name = f"{run}{bench.name} {short.replace('_', ' ')} {m.labels.get('stat', '')}"
                    grouped[name.strip()][level[1]].append(m.value)
        series = [Series(n, [(x, fmean(v)) for x, v in sorted(p.items())]) for n, p in grouped.items()]
        if series:
            charts.append(line_chart(title, series, x_label="load level", y_label=unit))
    return charts


# (series, title, readings, unit): what the per-second telemetry shows, each under the client's curves.
OVER_TIME: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        telemetry.ENGINE,
        "engine requests running and waiting",
        ("requests_running", "requests_waiting"),
        "requests",
    ),
    (telemetry.ENGINE, "engine tokens per second", ("generation_tokens", "prompt_tokens"), "tok/s"),
    (telemetry.ENGINE, "engine KV-cache usage", ("kv_cache_usage",), "%"),
    (telemetry.GPU, "GPU power", ("power_w",), "W"),
    (telemetry.GPU, "GPU utilisation", ("utilization_pct",), "%"),
)
MAX_POINTS = 600  # per line: a long level is drawn from its averages over equal spans


def _thinned(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return list(points)
    step = -(-len(points) // MAX_POINTS)
    spans = (points[i : i + step] for i in range(0, len(points), step))
    return [(fmean(x for x, _ in span), fmean(y for _, y in span)) for span in spans]


def over_time(benchmark: str, rows: Sequence[Sample]) -> list[Markup]:
    """A benchmark's per-second engine and GPU telemetry, its levels one after another."""
    charts: list[Markup] = []
    for series, title, wanted, unit in OVER_TIME:
        lines = telemetry.end_to_end(rows, series)
        chosen = [
            Series(name.replace("_", " "), _thinned(points))
            for name, points in lines.items()
            if name.split(" gpu ")[0] in wanted
        ]
        if chosen:
            charts.append(
                line_chart(
                    f"{benchmark}: {title} over time",
                    chosen,
                    x_label="seconds (levels one after another)",
                    y_label=unit,
                    markers=False,
                )
            )
    return charts
