"""A performance test from a suite, run against an endpoint: one BenchmarkResult per test."""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from kitt.bench import loadgen, metrics, prompts
from kitt.bench.records import RequestRecord
from kitt.bench.suites import PerformanceTest, Sampling
from kitt.engines import dialects
from kitt.engines.runtime import Endpoint
from kitt.events.results import BenchmarkResult, Metric, Sample
from kitt.events.states import BenchmarkStatus
from kitt.hardware.memory import MemorySampler

log = structlog.get_logger(__name__)


def _workers(test: PerformanceTest, concurrency: int) -> int:
    if test.workers is not None:
        return max(1, test.workers)
    return loadgen.default_workers(concurrency)


DISTINCT_PROMPTS = 10_000
DEFAULT_REQUESTS = 10_000


def _requests(test: PerformanceTest, level: float, mode: str) -> int:
    """How many requests a level may send: its budget, or what its rate sends in its duration."""
    if test.max_requests is not None:
        return test.max_requests
    if mode == "rate" and test.max_duration_s is not None and level != float("inf"):
        return int(level * test.max_duration_s) + 1
    return DEFAULT_REQUESTS


def _plan(
    test: PerformanceTest, sampling: Sampling, endpoint: Endpoint, level: float, mode: str
) -> loadgen.LoadPlan:
    spec = endpoint.spec
    dialect = dialects.for_engine(spec.dialect, streams_usage=spec.streams_usage, min_tokens=spec.min_tokens)
    count = _requests(test, level, mode) + test.warmup_requests
    distinct = min(count, DISTINCT_PROMPTS)  # rotated: a long test does not hold every body
    texts = (
        prompts.from_file(Path(test.dataset).expanduser(), distinct)
        if test.dataset
        else prompts.synthetic(distinct, test.input_tokens, seed=test.seed)
    )
    requests = [
        dialects.GenRequest(
            model=endpoint.model,
            prompt=text,
            max_tokens=sampling.max_tokens,
            force_length=test.force_length,
            chat=sampling.chat,
            temperature=sampling.temperature,
        )
        for text in texts
    ]
    arrivals: tuple[float, ...] = ()
    if mode == "rate":
        make = loadgen.poisson_arrivals if test.arrival == "poisson" else None
        arrivals = (
            make(level, count, burstiness=test.burstiness, seed=test.seed)
            if make
            else loadgen.constant_arrivals(level, count)
        )
    return loadgen.LoadPlan(
        host=endpoint.host,
        port=endpoint.port,
        dialect=spec.dialect,
        streams_usage=spec.streams_usage,
        min_tokens=spec.min_tokens,
        path=dialect.path(requests[0]),
        bodies=tuple(dialect.body(r) for r in requests),
        mode="rate" if mode == "rate" else "concurrency",
        concurrency=int(level) if mode == "concurrency" else 0,
        arrivals=arrivals,
        max_requests=test.max_requests,
        max_duration_s=test.max_duration_s,
        warmup_requests=test.warmup_requests,
        request_timeout_s=test.request_timeout_s,
    )


KeepSample = Callable[[Sample], None]


async def run_test(
    test: PerformanceTest,
    sampling: Sampling,
    endpoint: Endpoint,
    *,
    run_index: int = 0,
    unified_memory: bool = False,
    keep: KeepSample | None = None,
) -> tuple[BenchmarkResult, loadgen.LoadResult | None]:
    """Every level of the test (a sweep or rates); the first level's load feeds warm-up analysis.

    Each request's record goes to `keep` as it is made (the executor writes them to the RECORDS
    stream); the result itself carries only the metrics.
    """
    started = datetime.now(UTC)
    levels = [("rate", r) for r in test.rate] or [("concurrency", float(c)) for c in test.concurrency]
    all_metrics: list[Metric] = []
    invalid: list[str] = []
    token_sources: set[str] = set()
    first: loadgen.LoadResult | None = None
    errors: list[str] = []
    for mode, level in levels:
        plan = _plan(test, sampling, endpoint, level, mode)
        key = "rate" if mode == "rate" else "concurrency"
        labels = {key: f"{level:g}", "run": str(run_index)}
        log.info("bench.level", test=test.name, **labels)
        sample_labels = {key: level, "run": run_index}

        def on_records(batch: list[RequestRecord], labels: dict[str, float | int] = sample_labels) -> None:
            for record in batch:
                if record.error is None:
                    token_sources.add(record.token_source)
                if keep is not None:
                    keep(record.to_sample(**labels))

        with MemorySampler(unified=unified_memory) as memory:
            result = await loadgen.run(
                plan,
                workers=_workers(test, int(level) if mode == "concurrency" else 64),
                on_records=on_records,
            )
        first = first or result
        concurrency = int(level) if mode == "concurrency" else None
        columns = result.columns
        all_metrics += metrics.serving_metrics(columns, concurrency=concurrency, slo=test.slo, labels=labels)
        health = metrics.client_health(result.workers, labels)
        all_metrics += health.metrics
        all_metrics += memory.metrics(labels)
        if not health.valid and health.reason:
            invalid.append(f"{key} {level:g}: {health.reason}")
        if columns.first_error is not None and not (columns.ok & ~columns.warmup).any():
            errors.append(f"{key} {level:g}: every request failed; first error: {columns.first_error}")
    status: BenchmarkStatus = "failed" if errors else ("invalid" if invalid else "succeeded")
    return (
        BenchmarkResult(
            name=test.name,
            kind="performance",
            status=status,
            started_at=started,
            finished_at=datetime.now(UTC),
            error="; ".join(errors + invalid) or None,
            metrics=tuple(all_metrics),
            settings={
                "mode": levels[0][0],
                "levels": ",".join(f"{lv:g}" for _, lv in levels),
                "max_tokens": sampling.max_tokens,
                "temperature": sampling.temperature,
                "input_tokens": test.input_tokens,
                "max_requests": test.max_requests,
                "max_duration_s": test.max_duration_s,
                "warmup_requests": test.warmup_requests,
                "force_length": test.force_length,
                "dataset": test.dataset,
                "token_counts": ",".join(sorted(token_sources)),
                "run": run_index,
                "valid": not invalid,
            },
        ),
        first,
    )
