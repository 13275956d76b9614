"""Test agents: simulated GPU hosts for trying KITT without GPUs. Everything they produce says simulated.

A test agent is a real agent (its own token, its DISPATCH consumers, reports through the ingestor, log lines
on LOGS) whose executor fakes the engine and the load: an engine "starts" after a realistic pause, and each
performance level's requests are synthesised from a simple model of the GPU (throughput shared between
streams, TTFT growing with load) and then measured by the same metric code real runs use, so every figure
is consistent with every other. Quality scores are seeded draws near a plausible value. `RunInfo.simulated`
and every benchmark's `simulated` setting are true; nothing simulated can pass for a real result.
"""

import asyncio
import random
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from kitt.bench import metrics, suites
from kitt.bench.columns import RecordColumns
from kitt.bench.records import RequestRecord
from kitt.bench.recordstore import SampleWriter
from kitt.bench.suites import AnyTest, PerformanceTest, QualityTest, SloSearch, Suite
from kitt.events.results import BenchmarkResult, Gpu, Hardware, Metric
from kitt.events.states import FinalStatus
from kitt.events.types import BenchmarkStarted, EngineReady
from kitt.orchestration.executor import RunOutcome, RunRequest
from kitt.orchestration.reporting import RunReporter

# Output tokens per second one GPU sustains across all streams, and one stream alone (rough, by family).
GPU_RATES = {"H200": (5200, 160), "H100": (4200, 140), "B200": (7000, 190), "A100": (2400, 95)}
DEFAULT_RATE = (1500, 70)


class SimulatedHost(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    gpu: str = "H100 80GB"
    gpus: int = 1
    gpu_memory_mib: int = 81559
    arch: str = "x86_64"
    cpu_cores: int = 64
    ram_mib: int = 524288
    speed: float = 1.0  # wall-clock scale of the fake delays (tests use a small value)
    fail_on: tuple[str, ...] = ()  # a model whose path contains one of these fails (a flaky model, simulated)

    def hardware(self) -> Hardware:
        gpus = tuple(
            Gpu(index=i, name=f"NVIDIA {self.gpu}", memory_mib=self.gpu_memory_mib, compute_capability="9.0")
            for i in range(self.gpus)
        )
        return Hardware(
            fingerprint=f"simulated-{self.name}",
            hostname=f"{self.name}.simulated",
            os="simulated",
            arch=self.arch,
            cpu_model="simulated CPU",
            cpu_cores=self.cpu_cores,
            ram_mib=self.ram_mib,
            gpus=gpus,
        )

    def rates(self) -> tuple[float, float]:
        total, single = next((r for key, r in GPU_RATES.items() if key in self.gpu.upper()), DEFAULT_RATE)
        return total * self.gpus, single


def _records(host: SimulatedHost, concurrency: int, count: int, max_tokens: int, rng: random.Random):
    total, single = host.rates()
    per_stream = min(single, total / concurrency)
    ttft = 0.035 * (1 + 0.12 * (concurrency - 1))
    records, clock = [], [0.0] * concurrency
    for index in range(count):
        slot = index % concurrency
        first = ttft * rng.uniform(0.85, 1.25)
        gaps = [rng.uniform(0.9, 1.1) / per_stream for _ in range(max_tokens - 1)]
        offsets = [first]
        for gap in gaps:
            offsets.append(offsets[-1] + gap)
        records.append(
            RequestRecord(
                index=index,
                worker=0,
                start=clock[slot],
                chunk_offsets=offsets,
                end=offsets[-1] + 0.001,
                output_tokens=max_tokens,
                prompt_tokens=128,
                token_source="usage",
            )
        )
        clock[slot] += offsets[-1] + 0.002
    return records


class SimulatedExecutor:
    """Same contract as `Executor.run`: the run's facts through the reporter, an outcome at the end."""

    def __init__(self, reporter: RunReporter, host: SimulatedHost, home: Path, seed: int = 0) -> None:
        self.reporter = reporter
        self.host = host
        self.home = home
        self.rng = random.Random(seed)

    async def _pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.host.speed)

    async def run(self, request: RunRequest) -> RunOutcome:
        described = suites.describe(request.suite, self.home)
        info = request.info(self.host.hardware(), simulated=True, engine_version="simulated", suite=described)
        run_id = request.run_id
        await self.reporter.started(run_id, info)
        results: list[BenchmarkResult] = []
        status: FinalStatus = "succeeded"
        error: str | None = None
        try:
            suite = suites.load(request.suite, self.home)
            await self.reporter.log(run_id, "engine", f"simulated {request.engine}: loading {request.model}")
            await self._pause(2.0)
            if any(part in request.model for part in self.host.fail_on):
                raise RuntimeError(f"simulated failure: {request.model} does not load")
            await self.reporter.progress(
                run_id,
                EngineReady(
                    runtime=request.runtime,
                    engine_version="simulated",
                    endpoint="simulated://",
                    launch_s=2.0 * self.host.speed,
                ),
            )
            results = await self._benchmarks(run_id, suite)
        except (asyncio.CancelledError, KeyboardInterrupt):
            status, error = "cancelled", "cancelled"
        except Exception as exc:  # a bad suite, say: the run fails with the reason, like a real one
            status, error = "failed", str(exc)
        seq = await asyncio.shield(self.reporter.finished(run_id, status, error))
        return RunOutcome(run_id=run_id, status=status, error=error, benchmarks=tuple(results), seq=seq)

    async def _benchmarks(self, run_id: str, suite: Suite) -> list[BenchmarkResult]:
        results: list[BenchmarkResult] = []
        for test in suite.tests:
            await self.reporter.progress(run_id, BenchmarkStarted(name=test.name, kind=_kind(test)))
            await self.reporter.log(run_id, "kitt", f"benchmark {test.name} started (simulated)")
            await self._pause(1.0)
            writer = self.reporter.records(run_id, len(results))
            try:
                if isinstance(test, PerformanceTest):
                    result = self._performance(test, suite, writer)
                elif isinstance(test, SloSearch):
                    result = _not_simulated(test.name, "an SLO search needs a real engine's latency curve")
                else:
                    result = self._quality(test)
                result = msgspec.structs.replace(result, records=await writer.close())
            finally:
                writer.abort()
            await self.reporter.benchmark(run_id, result)
            await self.reporter.log(run_id, "kitt", f"benchmark {test.name} {result.status} (simulated)")
            results.append(result)
        return results

    def _performance(self, test: PerformanceTest, suite: Suite, writer: SampleWriter) -> BenchmarkResult:
        sampling = suite.sampling_for(test)
        found: list[Metric] = []
        for concurrency in test.concurrency:
            count = test.max_requests or 32
            records = _records(self.host, concurrency, count, max(2, sampling.max_tokens), self.rng)
            labels = {"concurrency": str(concurrency), "run": "0"}
            writer.add_many(r.to_sample(concurrency=concurrency, run=0, simulated=True) for r in records)
            found += metrics.serving_metrics(
                RecordColumns.of(records), concurrency=concurrency, slo=test.slo, labels=labels
            )
        now = datetime.now(UTC)
        return BenchmarkResult(
            name=test.name,
            kind="performance",
            started_at=now,
            finished_at=now,
            metrics=tuple(found),
            settings={"simulated": True, "max_tokens": sampling.max_tokens},
        )

    def _quality(self, test: QualityTest) -> BenchmarkResult:
        score = min(0.95, max(0.05, self.rng.gauss(0.65, 0.08)))
        now = datetime.now(UTC)
        metric = [Metric(name="score", value=score, unit="fraction", labels={"task": test.benchmark})]
        return BenchmarkResult(
            name=test.name,
            kind="quality",
            mode="generative",
            started_at=now,
            finished_at=now,
            metrics=tuple(metric),
            settings={"simulated": True, "benchmark": test.benchmark},
        )


def _kind(test: AnyTest) -> str:
    return "quality" if isinstance(test, QualityTest) else "performance"


def _not_simulated(name: str, why: str) -> BenchmarkResult:
    now = datetime.now(UTC)
    return BenchmarkResult(
        name=name,
        kind="performance",
        status="skipped",
        started_at=now,
        finished_at=now,
        error=f"not simulated: {why}",
        settings={"simulated": True},
    )
