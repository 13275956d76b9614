"""A/B verdicts from per-request records: the bootstrap confidence interval of each figure's difference.

A fixed threshold ("5 % slower") calls noise a regression on a short run and misses a real one on a long
run. Resampling each run's own requests says how far its figure could move by chance: a change counts only
when the 95 % interval of B - A excludes zero.
"""

from typing import Literal

import msgspec
import numpy as np

from kitt.bench.columns import Floats, RecordColumns
from kitt.bench.metrics import tpot

Better = Literal["lower", "higher"]
Verdict = Literal["better", "worse", "same"]
RESAMPLES = 500
MAX_VALUES = 20_000  # per run: a random subset keeps the bootstrap fast on a 10-minute test
CONFIDENCE = 0.95


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    metric: str
    stat: str
    unit: str
    better: Better
    a: float
    b: float
    delta: float  # b - a
    low: float  # the interval of b - a
    high: float
    change_pct: float | None
    verdict: Verdict


def _stat(values: Floats, stat: str, axis: int | None = None) -> Floats:
    if stat == "mean":
        return np.asarray(values.mean(axis=axis))
    return np.asarray(np.percentile(values, float(stat[1:]), axis=axis))


def _resampled(values: Floats, stat: str, rng: np.random.Generator, resamples: int) -> Floats:
    if values.size > MAX_VALUES:
        values = rng.choice(values, MAX_VALUES, replace=False)
    picks = rng.integers(0, values.size, size=(resamples, values.size))
    return _stat(values[picks], stat, axis=1)


def difference(
    metric: str,
    stat: str,
    unit: str,
    better: Better,
    a: Floats,
    b: Floats,
    *,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> Difference | None:
    """B against A for one figure (`stat` is mean or pNN), or None when either side has no values."""
    if a.size < 2 or b.size < 2:
        return None
    rng = np.random.default_rng(seed)
    spread = _resampled(b, stat, rng, resamples) - _resampled(a, stat, rng, resamples)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = (float(x) for x in np.percentile(spread, [tail, 100 - tail]))
    value_a, value_b = float(_stat(a, stat)), float(_stat(b, stat))
    verdict: Verdict = "same"
    tiny = 1e-9 * max(abs(value_a), abs(value_b), 1e-9)  # rounding, not a change: equal runs stay "same"
    if low > tiny or high < -tiny:
        went_up = low > tiny
        verdict = "worse" if went_up == (better == "lower") else "better"
    return Difference(
        metric=metric,
        stat=stat,
        unit=unit,
        better=better,
        a=value_a,
        b=value_b,
        delta=value_b - value_a,
        low=low,
        high=high,
        change_pct=(value_b - value_a) / value_a * 100 if value_a else None,
        verdict=verdict,
    )


class LevelComparison(msgspec.Struct, frozen=True, kw_only=True):
    """The A/B table of one benchmark level that both runs measured."""

    benchmark: str
    level: str
    differences: list[Difference]
    failed_a: str = ""  # failed requests by class (`HTTP 503: 50, timeout: 2`), A's and B's
    failed_b: str = ""


def per_second(columns: RecordColumns, weights: Floats) -> Floats:
    """Completions (or tokens) in each whole second of the level: throughput as a sample to resample."""
    ok = columns.ok & ~columns.warmup
    finish = (columns.start + columns.end)[ok]
    if finish.size == 0:
        return np.zeros(0)
    first = float(columns.start[ok].min())
    seconds = int((float(finish.max()) - first) // 1)
    if seconds < 2:
        return np.zeros(0)
    buckets = np.floor(finish - first).astype(np.int64)
    inside = buckets < seconds  # the last, partial second would read low
    return np.bincount(buckets[inside], weights=weights[ok][inside], minlength=seconds).astype(np.float64)


def figures(columns: RecordColumns) -> dict[str, tuple[str, Better, Floats]]:
    """Per-request values of each headline figure, with its unit and which way is better."""
    ok = columns.ok & ~columns.warmup
    per_token = tpot(columns)[ok]
    failed = (~columns.ok)[~columns.warmup].astype(np.float64) * 100  # its mean: the error rate, %
    return {
        "error_rate": ("%", "lower", failed),
        "ttft": ("ms", "lower", columns.ttft[ok] * 1000),
        "tpot": ("ms", "lower", per_token[~np.isnan(per_token)] * 1000),
        "itl": ("ms", "lower", columns.gaps(ok) * 1000),
        "e2e": ("ms", "lower", columns.end[ok] * 1000),
        "request_throughput": ("req/s", "higher", per_second(columns, np.ones(len(columns)))),
        "output_throughput": (
            "tok/s",
            "higher",
            per_second(columns, columns.output_tokens.astype(np.float64)),
        ),
    }


STATS = {"ttft": ("p50", "p99"), "tpot": ("p50", "p99"), "itl": ("p50", "p99"), "e2e": ("p50", "p99")}


def ab(a: RecordColumns, b: RecordColumns, metrics: tuple[str, ...] | None = None) -> list[Difference]:
    """The A/B table of two levels' records: every headline figure, B against A."""
    fa, fb = figures(a), figures(b)
    out = []
    for name, (unit, better, values_a) in fa.items():
        if metrics and name not in metrics:
            continue
        for stat in STATS.get(name, ("mean",)):
            found = difference(name, stat, unit, better, values_a, fb[name][2])
            if found is not None:
                out.append(found)
    return out
