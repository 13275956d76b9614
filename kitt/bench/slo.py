"""SLO search: the highest request rate (or concurrency) whose measured percentiles meet every target.

Bisection between the suite's `low` and `high`, deciding each level by the bootstrap interval of each
target's percentile (kitt.bench.targets): a level whose interval straddles a target is measured again and
its requests pooled, so the search neither stops on noise nor wanders on it. The result holds every level
tried (its serving metrics, each target's percentile with its interval, met or not), the goodput curve,
and the knee.
"""

import math
from datetime import UTC, datetime

import msgspec
import numpy as np
import structlog

from kitt.bench import performance, targets
from kitt.bench.columns import Floats, RecordColumns
from kitt.bench.performance import KeepSample
from kitt.bench.suites import Sampling, SloSearch
from kitt.engines.runtime import Endpoint
from kitt.events.results import BenchmarkResult, Metric

log = structlog.get_logger(__name__)


class Level(msgspec.Struct, frozen=True, kw_only=True):
    level: float
    attempts: int
    outcome: targets.Outcome
    checks: list[targets.Check]


class _Search:
    def __init__(
        self, test: SloSearch, sampling: Sampling, endpoint: Endpoint, keep: KeepSample | None, unified: bool
    ) -> None:
        self.test = test
        self.sampling = sampling
        self.endpoint = endpoint
        self.keep = keep
        self.unified = unified
        self.goals = targets.parse(test.targets)
        self.metrics: list[Metric] = []
        self.levels: list[Level] = []
        self.attempt = 0

    async def met(self, level: float) -> bool:
        pooled: dict[str, list[Floats]] = {t.label: [] for t in self.goals}
        checks: list[targets.Check] = []
        outcome: targets.Outcome = "unsure"
        attempts = 0
        while outcome == "unsure" and attempts <= self.test.repeats:
            attempts += 1
            self.attempt += 1
            columns = await self._measure(level)
            for goal in self.goals:
                pooled[goal.label].append(targets.values_ms(columns, goal.metric))
            checks = [
                targets.check(goal, np.concatenate(pooled[goal.label]), seed=self.attempt)
                for goal in self.goals
            ]
            outcome = targets.decide(checks, final=attempts > self.test.repeats)
        self.levels.append(Level(level=level, attempts=attempts, outcome=outcome, checks=checks))
        self._record(level, checks, outcome)
        log.info("slo.level", test=self.test.name, load=level, outcome=outcome, attempts=attempts)
        return outcome == "met"

    async def _measure(self, level: float) -> RecordColumns:
        result, load = await performance.run_test(
            self.test.level_test(level),
            self.sampling,
            self.endpoint,
            run_index=self.attempt - 1,
            unified_memory=self.unified,
            keep=self.keep,
        )
        self.metrics += result.metrics
        if load is None:
            raise RuntimeError(f"the SLO search's level {level:g} produced no load")
        return load.columns

    def _record(self, level: float, checks: list[targets.Check], outcome: targets.Outcome) -> None:
        labels: dict[str, str] = {self.test.search: f"{level:g}"}
        for c in checks:
            for name, value in (
                ("slo_percentile", c.value_ms),
                ("slo_low", c.low_ms),
                ("slo_high", c.high_ms),
            ):
                self.metrics.append(
                    Metric(name=name, value=value, unit="ms", labels={**labels, "target": c.target})
                )
        self.metrics.append(Metric(name="slo_met", value=float(outcome == "met"), unit="", labels=labels))

    def middle(self, met: float, missed: float) -> float | None:
        """The next level to try, or None when the bracket is as tight as it gets."""
        if self.test.search == "concurrency":
            mid = math.floor((met + missed) / 2)
            return float(mid) if met < mid < missed else None
        if missed / met - 1 <= self.test.resolution:
            return None
        return math.sqrt(met * missed)  # rates span orders of magnitude: bisect on a log scale


async def run_search(
    test: SloSearch,
    sampling: Sampling,
    endpoint: Endpoint,
    *,
    keep: KeepSample | None = None,
    unified_memory: bool = False,
) -> BenchmarkResult:
    started = datetime.now(UTC)
    search = _Search(test, sampling, endpoint, keep, unified_memory)
    knee: float | None = None
    if await search.met(test.low):
        knee = test.low
        if await search.met(test.high):
            knee = test.high
        else:
            met, missed = test.low, test.high
            while len(search.levels) < test.max_levels and (mid := search.middle(met, missed)) is not None:
                if await search.met(mid):
                    met = mid
                else:
                    missed = mid
            knee = met
    unit = "req/s" if test.search == "rate" else "concurrency"
    search.metrics.append(Metric(name="slo_knee", value=knee, unit=unit, labels={"targets": test.targets}))
    return BenchmarkResult(
        name=test.name,
        kind="performance",
        status="succeeded",
        started_at=started,
        finished_at=datetime.now(UTC),
        error=None if knee is not None else f"even {test.search} {test.low:g} misses {test.targets}",
        metrics=tuple(search.metrics),
        settings={
            "mode": "slo_search",
            "search": test.search,
            "targets": test.targets,
            "low": test.low,
            "high": test.high,
            "levels": ",".join(f"{lv.level:g}" for lv in search.levels),
            "outcomes": ",".join(lv.outcome for lv in search.levels),
            "knee": knee,
            "requests_per_level": test.requests_per_level,
            "max_tokens": sampling.max_tokens,
        },
    )
