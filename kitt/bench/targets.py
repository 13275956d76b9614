"""Service-level targets (`ttft_p99<=500ms,tpot_p99<=50ms`) and whether a level's records meet them.

A percentile measured on a few hundred requests moves by chance; a target counts as met only when the
upper end of its bootstrap confidence interval is within it, missed when the lower end is beyond it, and
unsure in between (the search then measures that level again).
"""

import re
from typing import Literal

import msgspec
import numpy as np

from kitt.bench.columns import Floats, RecordColumns
from kitt.bench.metrics import tpot

TargetMetric = Literal["ttft", "tpot", "itl", "e2e"]
Outcome = Literal["met", "missed", "unsure"]
_BY_NAME: dict[str, TargetMetric] = {"ttft": "ttft", "tpot": "tpot", "itl": "itl", "e2e": "e2e"}
METRICS: tuple[str, ...] = tuple(_BY_NAME)
_ONE = re.compile(
    r"^\s*(?P<metric>[a-z]+)_p(?P<q>\d+(?:\.\d+)?)\s*<=\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)\s*$"
)
RESAMPLES = 400
SAMPLE = 20_000  # values a check resamples (drawn without replacement from more)
CONFIDENCE = 0.95


class TargetError(ValueError):
    pass


class Target(msgspec.Struct, frozen=True, kw_only=True):
    metric: TargetMetric
    percentile: float
    limit_ms: float

    @property
    def label(self) -> str:
        return f"{self.metric}_p{self.percentile:g}<={self.limit_ms:g}ms"


class Check(msgspec.Struct, frozen=True, kw_only=True):
    target: str
    limit_ms: float
    value_ms: float | None
    low_ms: float | None
    high_ms: float | None
    outcome: Outcome


def parse(text: str) -> tuple[Target, ...]:
    """`ttft_p99<=500ms,tpot_p99<=50ms`: metric (ttft, tpot, itl, e2e), percentile, limit in ms or s."""
    targets = []
    for part in text.split(","):
        found = _ONE.match(part)
        if found is None:
            raise TargetError(
                f"SLO target {part.strip()!r}: write METRIC_pNN<=VALUE(ms|s), e.g. ttft_p99<=500ms "
                f"(metrics: {', '.join(METRICS)})"
            )
        name, q = found.group("metric"), float(found.group("q"))
        metric = _BY_NAME.get(name)
        if metric is None:
            raise TargetError(
                f"SLO target {part.strip()!r}: unknown metric {name!r}; use {', '.join(METRICS)}"
            )
        if not 0 < q < 100:
            raise TargetError(f"SLO target {part.strip()!r}: the percentile must be between 0 and 100")
        value = float(found.group("value")) * (1000 if found.group("unit") == "s" else 1)
        targets.append(Target(metric=metric, percentile=q, limit_ms=value))
    if not targets:
        raise TargetError("no SLO target given")
    return tuple(targets)


def values_ms(columns: RecordColumns, metric: TargetMetric) -> Floats:
    ok = columns.ok & ~columns.warmup
    if metric == "ttft":
        return columns.ttft[ok] * 1000
    if metric == "e2e":
        return columns.end[ok] * 1000
    if metric == "itl":  # folded columns hold a sketch of the gaps: a sample as large as a check takes
        return (columns.gaps(ok) if columns.keep_offsets else columns.itl.sample(SAMPLE)) * 1000
    per_token = tpot(columns)[ok]
    return per_token[~np.isnan(per_token)] * 1000


def check(target: Target, values: Floats, *, seed: int = 0) -> Check:
    if values.size < 2:
        return Check(
            target=target.label,
            limit_ms=target.limit_ms,
            value_ms=None,
            low_ms=None,
            high_ms=None,
            outcome="unsure",
        )
    rng = np.random.default_rng(seed)
    sample = values if values.size <= SAMPLE else rng.choice(values, SAMPLE, replace=False)
    picks = rng.integers(0, sample.size, size=(RESAMPLES, sample.size))
    spread = np.percentile(sample[picks], target.percentile, axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = (float(x) for x in np.percentile(spread, [tail, 100 - tail]))
    value = float(np.percentile(values, target.percentile))
    outcome: Outcome = "met" if high <= target.limit_ms else ("missed" if low > target.limit_ms else "unsure")
    return Check(
        target=target.label,
        limit_ms=target.limit_ms,
        value_ms=value,
        low_ms=low,
        high_ms=high,
        outcome=outcome,
    )


def decide(checks: list[Check], *, final: bool) -> Outcome:
    """A level meets the SLO when every target is met; once no repeat is left, the point values decide."""
    if any(c.outcome == "missed" for c in checks):
        return "missed"
    if all(c.outcome == "met" for c in checks):
        return "met"
    if not final:
        return "unsure"
    return "missed" if any(c.value_ms is None or c.value_ms > c.limit_ms for c in checks) else "met"
