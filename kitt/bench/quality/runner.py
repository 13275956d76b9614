"""A quality test from a suite, run against an endpoint: probe, choose the mode, evaluate, one result.

Every failure (bad benchmark file, missing data, a mode the engine cannot serve, lm-eval crashing or
hanging) becomes a failed BenchmarkResult whose error says why.
"""

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import structlog

from kitt.bench.quality import catalog, custom, datasets, driver, scores
from kitt.bench.quality.catalog import Mode
from kitt.bench.quality.job import Evaluation, Fitting, Job
from kitt.bench.quality.probe import Capabilities, probe
from kitt.bench.suites import QualityTest
from kitt.engines import health
from kitt.engines.runtime import Endpoint
from kitt.events.results import BenchmarkResult
from kitt.yamlfile import YamlError

log = structlog.get_logger(__name__)
Settings = dict[str, str | int | float | bool | None]
DEFAULT_CONTEXT = 2048  # lm-eval's max_length, where neither the suite nor the engine says


class CannotRun(Exception):
    """A quality test that cannot run; the message is its failure reason."""


class Skipped(CannotRun):
    """`mode: auto` and the engine serves none of the benchmark's modes: recorded as skipped, not failed."""


class Context:
    """What a quality test needs besides the endpoint: where data and custom files are, where to report."""

    def __init__(
        self,
        home: Path,
        *,
        datasets_dir: str | None = None,
        trusted_dir: str | None = None,
        on_line: Callable[[str], Awaitable[None]] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.home = home
        self.datasets = datasets.resolve_dir(datasets_dir)
        self.trusted = custom.trusted_dir(trusted_dir)
        self.on_line = on_line or _quiet
        self.on_progress = on_progress or (lambda _done, _total: None)
        self._capabilities: dict[str, Capabilities] = {}

    async def capabilities(self, endpoint: Endpoint) -> Capabilities:
        if endpoint.url not in self._capabilities:
            self._capabilities[endpoint.url] = await probe(endpoint)
        return self._capabilities[endpoint.url]


async def _quiet(_line: str) -> None:
    return None


def _custom_path(benchmark: str, home: Path) -> Path:
    path = Path(benchmark).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return path
    named = home / "benchmarks" / f"{benchmark}.yaml"
    if named.exists():
        return named
    raise CannotRun(
        f"unknown benchmark {benchmark!r}: not built in ({', '.join(catalog.BENCHMARKS)}), "
        f"not a file, not in {home / 'benchmarks'}"
    )


async def _mode(test: QualityTest, offered: tuple[Mode, ...], endpoint: Endpoint, ctx: Context) -> Mode:
    wanted = offered if test.mode == "auto" else (test.mode,)
    if test.mode != "auto" and test.mode not in offered:
        raise CannotRun(f"{test.benchmark} has no {test.mode} variant (it runs as {', '.join(offered)})")
    for mode in wanted:
        if mode == "generative":
            return mode
        capabilities = await ctx.capabilities(endpoint)
        if capabilities.loglikelihood:
            return mode
        reason = f"loglikelihood tasks refused for {endpoint.spec.display}: {capabilities.reason}"
        if test.mode == "loglikelihood":
            raise CannotRun(reason)
        if len(wanted) == 1:
            raise Skipped(f"{test.benchmark} has only a loglikelihood variant; {reason}")
    raise CannotRun(f"no mode of {test.benchmark} can run on {endpoint.spec.display}")


async def _fallback_reason(test: QualityTest, mode: Mode, endpoint: Endpoint, ctx: Context) -> str | None:
    """Why `auto` ran a benchmark generatively that has a loglikelihood variant: the result says so."""
    if test.mode != "auto" or mode != "generative" or "loglikelihood" not in catalog.modes(test.benchmark):
        return None
    capabilities = await ctx.capabilities(endpoint)  # asked once per endpoint: this is the cached answer
    return f"loglikelihood tasks refused for {endpoint.spec.display}: {capabilities.reason}"


def _base_job(test: QualityTest, endpoint: Endpoint, mode: Mode, work: Path, tasks: tuple[str, ...]) -> Job:
    return Job(
        server_url=endpoint.url,
        dialect=endpoint.spec.dialect,
        model=endpoint.model,
        mode=mode,
        tasks=tasks,
        limit=test.limit,
        num_fewshot=test.num_fewshot,
        concurrency=test.concurrency,
        max_gen_toks=test.max_gen_toks,
        max_length=test.max_length or DEFAULT_CONTEXT,
        request_timeout_s=test.request_timeout_s,
        seed=test.seed,
        work_dir=str(work),
        output=str(work / "evaluation.json"),
    )


async def _plan(test: QualityTest, endpoint: Endpoint, ctx: Context, work: Path) -> tuple[Job, str, Settings]:
    """The job to run, the headline (task, metric, filter) as text, and settings for the result."""
    if test.benchmark in catalog.BENCHMARKS:
        mode = await _mode(test, catalog.modes(test.benchmark), endpoint, ctx)
        cache = ctx.home / "quality" / "data"
        converted = await asyncio.to_thread(datasets.prepare, test.benchmark, ctx.datasets, cache)
        subjects = sorted({key.split("/")[0] for key in converted.files}) if test.benchmark == "mmlu" else []
        variant = catalog.variant(test.benchmark, mode, subjects)
        base = _base_job(test, endpoint, mode, work, variant.run)
        job = msgspec.structs.replace(base, variant=variant, files=converted.files)
        settings: Settings = {
            "dataset_source": datasets.source_of(ctx.datasets, test.benchmark),
            "dataset_dir": str(ctx.datasets),
            "variant": variant.label or None,
            "mode_reason": await _fallback_reason(test, mode, endpoint, ctx),
        }
        return job, ",".join(variant.headline), settings
    try:
        found = await asyncio.to_thread(custom.load, _custom_path(test.benchmark, ctx.home), ctx.trusted)
    except YamlError as exc:
        raise CannotRun(str(exc)) from None
    mode = await _mode(test, (found.mode,), endpoint, ctx)
    if found.format == "kitt":
        include = custom.write_task(found, work / "custom")
    elif found.config is not None:  # from outside the trusted directory: a copy, alone, sandboxed
        include = custom.write_lm_eval(found, work / "custom")
    else:
        include = Path(found.path).parent
    base = _base_job(test, endpoint, mode, work, (found.name,))
    job = msgspec.structs.replace(base, include_paths=(str(include),), sandboxed=found.config is not None)
    headline = f"{found.name},kitt_{found.simple.scoring},none" if found.simple else ""
    return job, headline, {"custom_file": found.path, "custom_format": found.format}


def _max_length(wished: int | None, engine_context: int | None) -> int:
    """What prompts are cut to: what the engine holds, never more, and less where the suite asks for less;
    lm-eval's 2,048 where neither says."""
    if engine_context is None:
        return wished or DEFAULT_CONTEXT
    return min(wished or engine_context, engine_context)


def _fitting_settings(fitting: Fitting | None) -> Settings:
    """How generative prompts were fitted to the context: how many were cut, and by how much at most."""
    if fitting is None:
        return {}
    return {
        "prompt_fitting": fitting.how,
        "prompts_cut": fitting.cut,
        "prompt_tokens_max": fitting.longest_tokens,
        "prompt_cut_tokens_max": fitting.most_cut_tokens,
    }


def _result(
    test: QualityTest, job: Job, evaluation: Evaluation, headline: str, settings: Settings, started: datetime
) -> BenchmarkResult:
    metrics = scores.task_metrics(evaluation)
    top = headline.split(",") if headline else []
    if len(top) == 3:
        metrics = scores.headline(evaluation, *top) + metrics
    first = top[0] if top else job.tasks[0]
    shots = [t.num_fewshot for t in evaluation.tasks if t.num_fewshot is not None]
    n_shot = next((t.num_fewshot for t in evaluation.tasks if t.name == first), None)
    n_shot = n_shot if n_shot is not None else (max(set(shots), key=shots.count) if shots else None)
    return BenchmarkResult(
        name=test.name,
        kind="quality" if test.benchmark in catalog.BENCHMARKS else "custom",
        mode=job.mode,
        started_at=started,
        finished_at=datetime.now(UTC),
        metrics=tuple(metrics),
        samples=evaluation.samples,
        settings={
            **settings,
            **_fitting_settings(evaluation.fitting),
            "benchmark": test.benchmark,
            "tasks": ",".join(job.tasks),
            "limit": test.limit,
            "num_fewshot": n_shot if n_shot is not None else test.num_fewshot,
            "documents": scores.documents(evaluation, first),
            "lm_eval_version": evaluation.lm_eval_version,
            "evaluation_s": round(evaluation.duration_s, 3),
            "concurrency": test.concurrency,
            "seed": test.seed,
        },
    )


async def run_test(test: QualityTest, endpoint: Endpoint, ctx: Context) -> BenchmarkResult:
    started = datetime.now(UTC)
    job: Job | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="kitt-quality-") as scratch:
            job, headline, settings = await _plan(test, endpoint, ctx, Path(scratch))
            engine_context = await health.read_context_length(endpoint)
            job = msgspec.structs.replace(
                job,
                max_length=_max_length(test.max_length, engine_context),
                context_stated=engine_context is not None,
                tokenize_api=endpoint.spec.tokenize_api,
                engine=endpoint.spec.display,
            )
            settings = {**settings, "max_length": job.max_length, "engine_context": engine_context}
            log.info("quality.start", test=test.name, tasks=job.tasks, mode=job.mode, limit=test.limit)
            evaluation = await driver.evaluate(
                job, timeout_s=test.timeout_s, on_line=ctx.on_line, on_progress=ctx.on_progress
            )
        return _result(test, job, evaluation, headline, settings, started)
    except (CannotRun, datasets.DatasetError, catalog.NoSuchVariant, driver.QualityError) as exc:
        log.warning("quality.failed", test=test.name, error=str(exc))
        return BenchmarkResult(
            name=test.name,
            kind="quality" if test.benchmark in catalog.BENCHMARKS else "custom",
            status="skipped" if isinstance(exc, Skipped) else "failed",
            mode=job.mode if job else None,
            started_at=started,
            finished_at=datetime.now(UTC),
            error=str(exc),
            settings={"benchmark": test.benchmark, "limit": test.limit},
        )
