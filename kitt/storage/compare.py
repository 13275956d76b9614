"""Comparing runs: the same figure side by side, its change against the first run, and a verdict.

A figure lines up across runs by benchmark, metric, percentile and labels. Only figures with a direction
(latency lower is better, throughput and accuracy higher) get a verdict; a change counts only beyond the
noise: `noise_pct` of the baseline, or for a quality score twice the combined standard error when that is
wider. A run is a regression when any such figure got worse beyond the noise.
"""

import math
from collections.abc import Sequence

import msgspec

from kitt.events.results import BenchmarkResult, Metric, ResultDocument

DEFAULT_NOISE_PCT = 5.0
LOWER_BETTER_UNITS = {"ms", "s", "J/tok"}
HIGHER_BETTER_UNITS = {"tok/s", "req/s", "fraction", "tok/s/W"}
LOWER_BETTER_NAMES = {"failed", "error_rate", "errors"}
HEADLINE = {"ttft", "itl", "tpot", "e2e", "request_throughput", "output_throughput", "goodput", "score"}
HEADLINE |= {"joules_per_output_token", "output_tokens_per_watt"}  # where the run had a GPU to measure
HEADLINE |= {"error_rate", "errors"}  # failed requests, in all and per class
HEADLINE_PERCENTILES = {None, "p50", "p99"}
SKIPPED_LABELS = {"worker"}  # the load generator's own health, not the engine's


class ComparedRun(msgspec.Struct, frozen=True):
    run_id: str
    model: str
    engine: str
    engine_version: str | None
    started_at: str
    simulated: bool


class Row(msgspec.Struct, frozen=True, kw_only=True):
    benchmark: str
    metric: str
    percentile: str | None
    labels: dict[str, str]
    unit: str
    better: str  # "lower" | "higher"
    values: list[float | None]
    deltas_pct: list[float | None]  # against the first run; None for the baseline itself
    verdicts: list[str]  # "baseline" | "better" | "worse" | "same" | "missing"


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    runs: list[ComparedRun]
    noise_pct: float
    rows: list[Row]
    verdicts: list[str]  # per run: "baseline" | "regression" | "improvement" | "mixed" | "no change"


Key = tuple[str, str, str | None, tuple[tuple[str, str], ...]]


def direction(metric: Metric) -> str | None:
    if metric.name in LOWER_BETTER_NAMES or metric.unit in LOWER_BETTER_UNITS:
        return "lower"
    if metric.unit in HIGHER_BETTER_UNITS or metric.name == "score":
        return "higher"
    return None


def _figures(doc: ResultDocument) -> dict[Key, tuple[Metric, float | None]]:
    out: dict[Key, tuple[Metric, float | None]] = {}
    for bench in doc.benchmarks:
        if bench.status != "succeeded":
            continue
        for m in bench.metrics:
            if m.name.endswith("_stderr") or SKIPPED_LABELS & m.labels.keys() or "stat" in m.labels:
                continue
            if m.name not in HEADLINE or m.percentile not in HEADLINE_PERCENTILES or direction(m) is None:
                continue
            key = (bench.name, m.name, m.percentile, tuple(sorted(m.labels.items())))
            out[key] = (m, _stderr(bench, m))
    return out


def _stderr(bench: BenchmarkResult, metric: Metric) -> float | None:
    for m in bench.metrics:
        if m.name == f"{metric.name}_stderr" and m.labels == metric.labels:
            return m.value
    return None


def _verdict(base: float, value: float, better: str, noise: float) -> str:
    change = value - base
    if abs(change) <= noise:
        return "same"
    improved = change < 0 if better == "lower" else change > 0
    return "better" if improved else "worse"


def _row(key: Key, found: list[tuple[Metric, float | None] | None], noise_pct: float) -> Row:
    first = next(f for f in found if f is not None)[0]
    better = direction(first) or "higher"
    values = [f[0].value if f else None for f in found]
    base = found[0]
    deltas: list[float | None] = [None]
    verdicts = ["baseline" if base else "missing"]
    for item in found[1:]:
        value = item[0].value if item else None
        if base is None or base[0].value is None or value is None:
            deltas.append(None)
            verdicts.append("missing")
            continue
        b = base[0].value
        deltas.append((value - b) / abs(b) * 100 if b else None)
        noise = abs(b) * noise_pct / 100
        if base[1] is not None and item and item[1] is not None:
            noise = max(noise, 2 * math.hypot(base[1], item[1]))
        verdicts.append(_verdict(b, value, better, noise))
    return Row(
        benchmark=key[0],
        metric=key[1],
        percentile=key[2],
        labels=dict(key[3]),
        unit=first.unit,
        better=better,
        values=values,
        deltas_pct=deltas,
        verdicts=verdicts,
    )


def _overall(rows: Sequence[Row], index: int) -> str:
    seen = {r.verdicts[index] for r in rows}
    if "worse" in seen:
        return "mixed" if "better" in seen else "regression"
    return "improvement" if "better" in seen else "no change"


def compare(documents: Sequence[ResultDocument], noise_pct: float = DEFAULT_NOISE_PCT) -> Comparison:
    """Compare runs in the order given; the first is the baseline."""
    if len(documents) < 2:
        raise ValueError("a comparison needs at least two runs")
    figures = [_figures(d) for d in documents]
    keys = list(dict.fromkeys(k for per_run in figures for k in per_run))  # first seen, first listed
    rows = [_row(k, [f.get(k) for f in figures], noise_pct) for k in keys]
    runs = [
        ComparedRun(
            run_id=d.run_id,
            model=d.info.model,
            engine=d.info.engine,
            engine_version=d.info.engine_version,
            started_at=d.info.started_at.isoformat(timespec="seconds"),
            simulated=d.info.simulated,
        )
        for d in documents
    ]
    verdicts = ["baseline"] + [_overall(rows, i) for i in range(1, len(documents))]
    return Comparison(runs=runs, noise_pct=noise_pct, rows=rows, verdicts=verdicts)
