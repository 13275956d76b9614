"""A performance test from a suite, run against an endpoint: one BenchmarkResult per test."""

from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from kitt import cancelling
from kitt.bench import errors as errors_of
from kitt.bench import loadgen, metrics, plans, telemetry, tokens
from kitt.bench.columns import RecordColumns
from kitt.bench.enginewatch import EngineWatch
from kitt.bench.records import RequestRecord
from kitt.bench.suites import PerformanceTest, Sampling
from kitt.engines.runtime import Endpoint
from kitt.events.results import BenchmarkResult, Metric, Sample
from kitt.events.states import BenchmarkStatus
from kitt.hardware.gputelemetry import GpuTelemetry
from kitt.hardware.memory import MemorySampler

log = structlog.get_logger(__name__)


def _workers(test: PerformanceTest, concurrency: int) -> int:
    if test.workers is not None:
        return max(1, test.workers)
    return loadgen.default_workers(concurrency)


KeepSample = Callable[[Sample], None]


def _length_mismatch(columns: RecordColumns, asked: int) -> tuple[float, str] | None:
    """When delivered output lengths differ from what was asked: the share of requests, and by how much."""
    ok = columns.ok & ~columns.warmup
    delivered = columns.output_tokens[ok]
    off = delivered != asked
    if not delivered.size or not off.any():
        return None
    share = float(off.mean()) * 100
    text = (
        f"{int(off.sum())} of {delivered.size} requests delivered other than the {asked} output tokens asked "
        f"(mean {float(delivered.mean()):.1f}, min {int(delivered.min())}, max {int(delivered.max())})"
    )
    return share, text


async def _sizing(
    test: PerformanceTest, chat: bool, endpoint: Endpoint
) -> tuple[tokens.WordCosts | None, str]:
    """The word costs that size this test's prompts in the served model's tokens, and what the result says
    of how its prompts were sized."""
    if test.dataset:
        return None, "the dataset's prompts, as written"
    if not plans.sized_by_tokens(test):
        return None, "words (shared-prefix prompts are sized in words)"
    try:
        costs = await tokens.measure(endpoint, chat=chat)
    except tokens.TokenizerUnavailable as exc:
        return None, f"words, not tokens: no tokenizer to size them with ({exc})"
    return costs, f"tokens, by {costs.source}"


def _prompt_lengths(columns: RecordColumns, labels: dict[str, str]) -> list[Metric]:
    """The prompt lengths the engine reported taking (its usage), beside the input_tokens asked."""
    taken = columns.prompt_tokens[columns.ok & ~columns.warmup]
    taken = taken[taken >= 0]
    if not taken.size:
        return []
    stats = {"mean": float(taken.mean()), "min": float(taken.min()), "max": float(taken.max())}
    return [
        Metric(name="prompt_tokens", value=v, unit="tokens", labels={**labels, "stat": k})
        for k, v in stats.items()
    ]


async def run_test(
    test: PerformanceTest,
    sampling: Sampling,
    endpoint: Endpoint,
    *,
    run_index: int = 0,
    unified_memory: bool = False,
    keep: KeepSample | None = None,
    keep_telemetry: KeepSample | None = None,
) -> tuple[BenchmarkResult, loadgen.LoadResult | None]:
    """Every level of the test (a sweep or rates); the first level's load feeds warm-up analysis.

    Each request's record goes to `keep` as it is made, and each level's per-second engine and GPU rows
    to `keep_telemetry` when it ends (the executor writes both to the RECORDS stream); the result itself
    carries only the metrics.
    """
    started = datetime.now(UTC)
    levels = plans.levels(test)
    all_metrics: list[Metric] = []
    invalid: list[str] = []
    token_sources: set[str] = set()
    first: loadgen.LoadResult | None = None
    errors: list[str] = []
    warnings: list[str] = []
    ended_by: list[str] = []  # which bound ended each level
    costs, sizing = await _sizing(test, sampling.chat, endpoint)
    for mode, level in levels:
        cancelling.check()
        plan = plans.plan_for(test, sampling, endpoint, level, mode, costs)
        if mode == "trace":
            level = float(f"{plans.trace_rate(plan):.4g}")  # labelled by its mean rate, like a rate level
        key = "rate" if mode in ("rate", "trace") else "concurrency"
        labels = {key: f"{level:.4g}", "run": str(run_index)}
        log.info("bench.level", test=test.name, **labels)
        sample_labels = {key: level, "run": run_index}

        def on_records(batch: list[RequestRecord], labels: dict[str, float | int] = sample_labels) -> None:
            for record in batch:
                if record.error is None:
                    token_sources.add(record.token_source)
                if keep is not None:
                    keep(record.to_sample(**labels))

        with MemorySampler(unified=unified_memory) as memory, GpuTelemetry() as gpu:
            async with EngineWatch(endpoint) as engine:
                result = await loadgen.run(
                    plan,
                    workers=_workers(test, int(level) if mode == "concurrency" else 64),
                    on_records=on_records,
                )
        if keep_telemetry is not None:
            for row in telemetry.engine_rows(engine, sample_labels) + telemetry.gpu_rows(gpu, sample_labels):
                keep_telemetry(row)
        first = first or result
        concurrency = int(level) if mode == "concurrency" else None
        columns = result.columns
        all_metrics += metrics.serving_metrics(columns, concurrency=concurrency, slo=test.slo, labels=labels)
        health = metrics.client_health(result.workers, labels)
        all_metrics += health.metrics
        all_metrics += memory.metrics(labels)
        all_metrics += engine.metrics(labels)
        all_metrics += gpu.metrics(labels, output_tokens=int(result.columns.output_tokens.sum()))
        if engine.warning is not None:
            warnings.append(f"{key} {level:g}: {engine.warning}")
        all_metrics += _prompt_lengths(columns, labels)
        if not health.valid and health.reason:
            invalid.append(f"{key} {level:g}: {health.reason}")
        if mode != "trace":  # a trace asks each request for its own length
            mismatch = _length_mismatch(columns, sampling.max_tokens)
            if mismatch is not None:
                share, text = mismatch
                all_metrics.append(Metric(name="length_mismatch", value=share, unit="%", labels=labels))
                warnings.append(f"{key} {level:g}: {text}")
        ended_by.append(f"{key} {level:g}: {_ended_by(test, mode, int((~columns.warmup).sum()), result)}")
        all_metrics += _error_metrics(columns, labels)
        failure = _level_failure(test, columns, result)
        if failure is not None:
            errors.append(f"{key} {level:g}: {failure}")
            if not test.continue_after_failure:
                skipped = [f"{lv:g}" for _, lv in levels[len(ended_by) :]]
                if skipped:
                    warnings.append(
                        f"the sweep stopped at the failed {key} {level:g}; not run: {', '.join(skipped)}"
                    )
                break
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
                "input_sizing": sizing,
                "max_requests": test.max_requests,
                "max_duration_s": test.max_duration_s,
                "ended_by": "; ".join(ended_by),
                "warmup_requests": test.warmup_requests,
                "force_length": test.force_length,
                "dataset": test.dataset,
                "token_counts": ",".join(sorted(token_sources)),
                "run": run_index,
                "valid": not invalid,
                "warnings": "; ".join(warnings) or None,
            },
        ),
        first,
    )


def _error_metrics(columns: RecordColumns, labels: dict[str, str]) -> list[Metric]:
    """The level's share of failed measured requests, and how many failed in each class."""
    measured = int((~columns.warmup).sum())
    failed = sum(columns.error_classes.values())
    out = [
        Metric(name="error_rate", value=failed / measured * 100 if measured else 0.0, unit="%", labels=labels)
    ]
    for name, count in columns.error_classes.most_common():
        out.append(Metric(name="errors", value=count, unit="requests", labels={**labels, "class": name}))
    return out


def _level_failure(test: PerformanceTest, columns: RecordColumns, load: loadgen.LoadResult) -> str | None:
    """Why a level failed: every request did, or more than its error budget."""
    measured = int((~columns.warmup).sum())
    failed = sum(columns.error_classes.values())
    classes = errors_of.describe(columns.error_classes)
    if columns.first_error is not None and not (columns.ok & ~columns.warmup).any():
        return f"every request failed ({classes or columns.first_error}); first error: {columns.first_error}"
    if not measured or failed / measured <= test.max_error_rate:
        return None
    early = "; stopped early" if any(w.stopped_for_errors for w in load.workers) else ""
    return f"error rate {failed / measured * 100:.0f} % > {test.max_error_rate * 100:g} % ({classes}){early}"


def _ended_by(test: PerformanceTest, mode: str, measured: int, load: loadgen.LoadResult) -> str:
    """Which bound ended a level: its request count, its duration, (a trace) the trace's last line, or its
    error budget."""
    if any(w.stopped_for_errors for w in load.workers):
        return "max_error_rate"
    if mode == "trace":
        return "trace"
    if test.max_requests is not None and (measured >= test.max_requests or test.max_duration_s is None):
        return "max_requests"
    return "max_duration_s"
