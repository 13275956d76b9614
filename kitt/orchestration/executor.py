"""One run, start to finish: preflight, engine up, suite, results, engine down — every step an event.

`kitt run` and the agent share this. A failure at any step (bad input, an engine that never becomes
healthy or dies mid-run, every request failing) finishes the run as failed with the reason; Ctrl-C or a
cancel finishes it as cancelled. The engine is stopped in every case.
"""

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import structlog

from kitt import __version__, cancelling
from kitt.bench import loadgen, performance, slo, suites, warmup
from kitt.bench.quality import runner as quality
from kitt.bench.recordstore import SampleWriter
from kitt.bench.suites import AnyTest, QualityTest, SloSearch, Suite
from kitt.bench.targets import TargetError
from kitt.children import free_port
from kitt.engines import formats, images, preflight, preparation
from kitt.engines.external import ExternalRuntime
from kitt.engines.native import NativeRuntime
from kitt.engines.runtime import EngineError, EngineRuntime, Launch, Started
from kitt.events.results import BenchmarkResult, Hardware, RunInfo
from kitt.events.states import FinalStatus, RuntimeName
from kitt.events.types import BenchmarkStarted, EngineReady
from kitt.hardware import fingerprint
from kitt.orchestration.reporting import RunReporter
from kitt.yamlfile import YamlError

log = structlog.get_logger(__name__)
T = TypeVar("T")
ENGINE_WATCH_S = 0.5


class RunRequest(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    model: str
    engine: str
    suite: str = "quick"
    runtime: RuntimeName = "native"
    endpoint: str | None = None
    profile: str | None = None
    profile_args: tuple[str, ...] = ()
    profile_env: dict[str, str] = {}
    force: bool = False
    auto_pull: bool = False
    agent: str | None = None
    health_timeout_s: float = 600.0
    datasets_dir: str | None = None  # the datasets_dir setting; else KITT_DATASETS_DIR, else the shipped copy
    trusted_tasks_dir: str | None = None  # where custom lm-eval tasks may use `!function`
    slo: str | None = None  # `--slo`: targets for the suite's SLO searches

    def info(
        self,
        hardware: Hardware | None,
        *,
        simulated: bool = False,
        engine_version: str | None = None,
        suite: tuple[str, str | None] | None = None,
    ) -> RunInfo:
        """What the run records of this request when it starts; `suite` is the suite's (name, file)
        (`suites.describe`), else the name or path asked for."""
        name, file = suite or (self.suite, None)
        return RunInfo(
            model=self.model,
            engine=self.engine,
            suite=name,
            suite_file=file,
            agent=self.agent,
            runtime=self.runtime,
            engine_profile=self.profile,
            kitt_version=__version__,
            hardware=hardware,
            started_at=datetime.now(UTC),
            simulated=simulated,
            engine_version=engine_version,
        )


class RunOutcome(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    status: FinalStatus
    error: str | None
    benchmarks: tuple[BenchmarkResult, ...]
    seq: int  # the stream sequence of the run's last event: wait for the projection to reach it


class RunFailed(Exception):
    """Raised inside the executor to finish the run as failed with this reason."""


Progress = Callable[[str, int, int], None]  # (what is happening, steps done, steps in all)
RuntimeFactory = Callable[[RunRequest], EngineRuntime]


def default_runtime(request: RunRequest) -> EngineRuntime:
    if request.runtime == "external":
        if not request.endpoint:
            raise preflight.PreflightError("the external runtime needs --endpoint URL")
        return ExternalRuntime(request.endpoint)
    if request.runtime == "docker":
        from kitt.engines.docker import DockerRuntime  # aiodocker only when docker is asked for

        return DockerRuntime(auto_pull=request.auto_pull)
    return NativeRuntime()


class Executor:
    def __init__(
        self,
        reporter: RunReporter,
        *,
        home: Path,
        progress: Progress | None = None,
        runtimes: RuntimeFactory = default_runtime,
    ) -> None:
        self.reporter = reporter
        self.home = home
        self.progress = progress or (lambda _what, _done, _total: None)
        self.runtimes = runtimes

    async def run(self, request: RunRequest) -> RunOutcome:
        """Run it, and record how it ended whatever happens. A cancellation is recorded, then re-raised."""
        details = fingerprint.detect(self.home)
        info = request.info(details.hardware, suite=suites.describe(request.suite, self.home))
        await self.reporter.started(request.run_id, info)
        results: list[BenchmarkResult] = []
        runtime: EngineRuntime | None = None
        status: FinalStatus = "succeeded"
        error: str | None = None
        cancelled = False
        try:
            checked, suite = self._check(request, details.hardware)
            runtime = self.runtimes(request)
            started = await self._start_engine(request, checked, runtime, details.hardware)
            work = self._benchmarks(request, suite, started, details.hardware, results)
            await self._watch(runtime, work)
            failed = [r for r in results if r.status == "failed"]
            if failed:
                status = "failed"
                error = "; ".join(f"{r.name}: {r.error}" for r in failed)
        except (RunFailed, EngineError, preflight.PreflightError, YamlError) as exc:
            status, error = "failed", str(exc)
        except (asyncio.CancelledError, KeyboardInterrupt):
            status, error, cancelled = "cancelled", "cancelled by the user", True
        except Exception as exc:  # a bug or an outage: the run still ends, with the reason on one line
            log.exception("run.crashed", run_id=request.run_id)
            status, error = "failed", _one_line(exc)
        if runtime is not None:
            cancelled = await self._stop(runtime) or cancelled
        seq = await _uncancellable(self.reporter.finished(request.run_id, status, error))
        log.info("run.finished", run_id=request.run_id, status=status, error=error)
        if cancelled:
            raise asyncio.CancelledError
        return RunOutcome(
            run_id=request.run_id, status=status, error=error, benchmarks=tuple(results), seq=seq
        )

    async def _stop(self, runtime: EngineRuntime) -> bool:
        """Stop the engine even if cancelled again meanwhile; True when a cancellation came during it."""
        self.progress("stopping the engine", 0, 0)
        try:
            await _uncancellable(runtime.stop())
        except asyncio.CancelledError:
            return True
        except Exception:
            log.exception("run.engine_stop_failed")
        return False

    def _check(self, request: RunRequest, hardware: Hardware) -> tuple[preflight.Preflight, Suite]:
        self.progress("preflight", 0, 0)
        checked = preflight.check(
            request.engine, request.model, request.runtime, force=request.force, arch=hardware.arch
        )
        suite = suites.load(request.suite, self.home)
        if request.slo is not None:
            try:
                suite = suites.with_targets(suite, request.slo)
            except TargetError as exc:
                raise RunFailed(str(exc)) from None
        return checked, suite

    async def _start_engine(
        self, request: RunRequest, checked: preflight.Preflight, runtime: EngineRuntime, hardware: Hardware
    ) -> tuple[Started, float | None]:
        spec = checked.spec
        path = checked.model_path
        image = None
        if request.runtime == "docker":
            overrides = images.load_overrides(self.home / "engines.yaml")
            cc = fingerprint.compute_capability(hardware)
            image = images.choose(spec, arch=hardware.arch or "", compute_capability=cc, overrides=overrides)
        launch = Launch(
            spec=spec,
            model_path=str(path) if path is not None else request.model,
            served_name=formats.served_name(path) if path is not None else request.model,
            port=free_port() if request.runtime != "external" else 0,
            extra_args=request.profile_args,
            env=request.profile_env,
            image=image.image if image else None,
            image_build=image.build if image else None,
            health_timeout_s=request.health_timeout_s,
        )
        for warning in checked.warnings:
            await self.reporter.log(request.run_id, "kitt", f"warning: {warning}")
        self.progress(f"starting {spec.display} ({request.runtime})", 0, 0)

        async def engine_log(line: str) -> None:
            await self.reporter.log(request.run_id, "engine", line)

        started = await runtime.start(launch, engine_log)
        await preparation.prepare(started.endpoint, path)
        first_token_s = await warmup.first_token(started.endpoint)
        cancelling.check()
        await self.reporter.progress(
            request.run_id,
            EngineReady(
                runtime=request.runtime,
                engine_version=started.version,
                engine_image=started.image,
                engine_image_id=started.image_id,
                endpoint=started.endpoint.url,
                launch_s=started.launch_s,
                engine_args=started.args,
            ),
        )
        return started, first_token_s

    async def _benchmarks(
        self,
        request: RunRequest,
        suite: Suite,
        engine: tuple[Started, float | None],
        hardware: Hardware,
        results: list[BenchmarkResult],
    ) -> None:
        started, first_token_s = engine
        quality_tests = sum(isinstance(t, QualityTest) for t in suite.tests)
        total = suite.runs * (len(suite.tests) - quality_tests) + quality_tests + 1
        warmed = False
        for run_index in range(suite.runs):
            for test in suite.tests:
                if isinstance(test, QualityTest) and run_index > 0:
                    continue  # deterministic (temperature 0, fixed seed): one pass is the figure
                cancelling.check()  # a Ctrl-C that a NATS request swallowed still stops before the next one
                label = test.name if suite.runs == 1 else f"{test.name} (run {run_index + 1}/{suite.runs})"
                kind = "quality" if isinstance(test, QualityTest) else "performance"
                self.progress(label, len(results), total)
                await self.reporter.progress(request.run_id, BenchmarkStarted(name=test.name, kind=kind))
                await self.reporter.log(request.run_id, "kitt", f"benchmark {label} started")
                writer = self.reporter.records(request.run_id, len(results))
                series = self.reporter.telemetry(request.run_id, len(results))
                try:
                    result, first = await self._one(
                        request,
                        test,
                        suite,
                        started,
                        hardware,
                        run_index,
                        label,
                        (len(results), total),
                        (writer, series),
                    )
                    result = msgspec.structs.replace(
                        result,
                        samples=(),
                        records=await writer.close(),
                        telemetry_records=await series.close(),
                    )
                finally:
                    writer.abort()
                    series.abort()
                await self.reporter.benchmark(request.run_id, result)
                await self.reporter.log(request.run_id, "kitt", f"benchmark {label} {result.status}")
                results.append(result)
                if not warmed and first is not None:
                    warmed = True
                    analysis = warmup.analyse(
                        first.columns, launch_s=started.launch_s, first_token_s=first_token_s
                    )
                    await self.reporter.benchmark(request.run_id, analysis)
                    results.append(analysis)
        self.progress("done", total, total)

    async def _one(
        self,
        request: RunRequest,
        test: AnyTest,
        suite: Suite,
        started: Started,
        hardware: Hardware,
        run_index: int,
        label: str,
        step: tuple[int, int],
        writers: tuple[SampleWriter, SampleWriter],
    ) -> tuple[BenchmarkResult, loadgen.LoadResult | None]:
        """One benchmark; its per-request records go to the first writer as they come (quality: when it
        ends), a performance test's per-second telemetry to the second as each level ends."""
        writer, series = writers
        if isinstance(test, QualityTest):
            result = await self._quality(request, test, started, label, step)
            writer.add_many(result.samples)
            return result, None
        if isinstance(test, SloSearch):
            found = await slo.run_search(
                test,
                suite.sampling_for(test),
                started.endpoint,
                keep=writer.add,
                unified_memory=hardware.unified_memory,
            )
            return found, None
        return await performance.run_test(
            test,
            suite.sampling_for(test),
            started.endpoint,
            run_index=run_index,
            unified_memory=hardware.unified_memory,
            keep=writer.add,
            keep_telemetry=series.add,
        )

    async def _quality(
        self, request: RunRequest, test: QualityTest, started: Started, label: str, step: tuple[int, int]
    ) -> BenchmarkResult:
        async def line(text: str) -> None:
            await self.reporter.log(request.run_id, "lm-eval", text)

        def requests(done: int, total: int) -> None:
            self.progress(f"{label}: {done}/{total} requests", *step)

        context = quality.Context(
            self.home,
            datasets_dir=request.datasets_dir,
            trusted_dir=request.trusted_tasks_dir,
            on_line=line,
            on_progress=requests,
        )
        return await quality.run_test(test, started.endpoint, context)

    async def _watch(self, runtime: EngineRuntime, work: Coroutine[Any, Any, None]) -> None:
        """Run the benchmarks while watching the engine: if it dies, the run fails with its last lines."""
        task = asyncio.ensure_future(work)
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=ENGINE_WATCH_S)
                # Asked once more when the work has ended: a level that stops early because every request
                # failed (its error budget) can end before the next look, and the cause is the engine's exit.
                if not await runtime.alive():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                    tail = "\n  ".join((await runtime.last_lines())[-10:]) or "(no log lines)"
                    raise RunFailed(f"the engine exited mid-run; its last log lines:\n  {tail}")
            task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text[:300]}"


async def _uncancellable(work: Coroutine[Any, Any, T]) -> T:
    """Finish `work` however often the caller is cancelled meanwhile, then let the cancellation through."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
