"""`kitt report`: one self-contained HTML file of runs (no network: the style and the SVG charts inline).

Sweep curves (throughput and latency against load), latency CDFs from the raw records, the throughput-latency
Pareto front across runs, and for two runs the A/B table with each difference's bootstrap interval.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import jinja2
import msgspec
from markupsafe import Markup

from kitt import __version__
from kitt.bench import targets
from kitt.bench.columns import RecordColumns
from kitt.bench.significance import LevelComparison
from kitt.charts import figures
from kitt.events import validity
from kitt.events.results import ResultDocument, Sample


class ReportRun(msgspec.Struct, frozen=True, kw_only=True):
    doc: ResultDocument
    levels: dict[str, RecordColumns]  # "benchmark level" -> that level's records
    telemetry: dict[str, list[Sample]] = {}  # benchmark -> its per-second engine and GPU rows


def _environment() -> jinja2.Environment:
    loader = jinja2.PackageLoader("kitt.charts", "templates")
    env = jinja2.Environment(loader=loader, autoescape=jinja2.select_autoescape(["html"]))
    env.filters["status_text"] = lambda doc: validity.status_text(doc.status, validity.count(doc.benchmarks))
    return env


def _cdfs(runs: Sequence[ReportRun], metric: targets.TargetMetric, title: str) -> Markup | None:
    curves = [
        (f"{figures.run_label(r.doc)} {name}", [float(v) for v in targets.values_ms(columns, metric)])
        for r in runs
        for name, columns in r.levels.items()
    ]
    return figures.cdf(title, curves[:8])


def charts(runs: Sequence[ReportRun]) -> list[Markup]:
    docs = [r.doc for r in runs]
    found = [
        figures.throughput(docs, per_run=len(docs) > 1),
        figures.latency_vs_load(docs, "ttft"),
        figures.latency_vs_load(docs, "tpot"),
        _cdfs(runs, "ttft", "Time to first token: cumulative distribution"),
        _cdfs(runs, "e2e", "End-to-end latency: cumulative distribution"),
        figures.pareto(docs),
    ]
    over_time = [
        chart
        for r in runs
        for name, rows in r.telemetry.items()
        for chart in figures.over_time(f"{figures.run_label(r.doc)} {name}" if len(runs) > 1 else name, rows)
    ]
    return [c for c in found if c is not None] + figures.engine_vs_load(docs) + over_time


class FailedLevel(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    benchmark: str
    level: str
    rate_pct: float
    classes: str  # "HTTP 503: 50, timeout: 2"


def failed_levels(docs: Sequence[ResultDocument]) -> list[FailedLevel]:
    """Every level that had failed requests: its share of them, and how many of each class."""
    out: list[FailedLevel] = []
    for doc in docs:
        for bench in doc.benchmarks:
            rates = {_level(m.labels): m.value for m in bench.metrics if m.name == "error_rate"}
            for level, rate in rates.items():
                if not rate:
                    continue
                counts = [
                    f"{m.labels.get('class')}: {m.value:g}"
                    for m in bench.metrics
                    if m.name == "errors" and _level(m.labels) == level
                ]
                out.append(
                    FailedLevel(
                        run_id=doc.run_id,
                        benchmark=bench.name,
                        level=level,
                        rate_pct=rate,
                        classes=", ".join(counts),
                    )
                )
    return out


def _level(labels: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in labels.items() if k in ("concurrency", "rate", "run"))


def render(runs: Sequence[ReportRun], ab: Sequence[LevelComparison] | None, *, style: str) -> str:
    """`style`: the stylesheet to inline (the web UI's own), so the file needs nothing else."""
    template = _environment().get_template("report.html")
    return template.render(
        runs=[r.doc for r in runs],
        charts=charts(runs),
        failures=failed_levels([r.doc for r in runs]),
        ab=ab,
        style=Markup(style),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )
