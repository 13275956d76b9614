"""Builders for realistic events and result documents used across tests and benchmarks."""

from datetime import UTC, datetime, timedelta

from kitt.events.envelope import Envelope, wrap
from kitt.events.results import BenchmarkResult, Gpu, Hardware, Metric, ResultDocument, RunInfo
from kitt.events.types import BenchmarkCompleted, RunFinished, RunStarted

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def hardware() -> Hardware:
    return Hardware(
        fingerprint="rtx4090-x86_64-64g",
        hostname="gpu-01",
        os="Ubuntu 24.04",
        arch="x86_64",
        cpu_model="AMD Ryzen 9 7950X",
        cpu_cores=16,
        ram_mib=65536,
        gpus=(Gpu(index=0, name="NVIDIA GeForce RTX 4090", memory_mib=24564, compute_capability="8.9"),),
    )


def performance_result(seed: int = 0) -> BenchmarkResult:
    metrics = [
        Metric(name="ttft", value=41.5 + seed, unit="ms", percentile=p) for p in ("p50", "p90", "p99")
    ] + [
        Metric(name="output_throughput", value=812.4 + seed, unit="tok/s"),
        Metric(name="gpu_memory_peak", value=20112.0, unit="MiB", labels={"gpu": "0"}),
    ]
    return BenchmarkResult(
        name="throughput",
        kind="performance",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=60),
        metrics=tuple(metrics),
        samples=(
            {"ttft_ms": 40.1, "output_tokens": 128, "ok": True},
            {"ttft_ms": 44.0, "output_tokens": 128, "ok": True},
        ),
        settings={"concurrency": 8, "max_requests": 200},
    )


def quality_result() -> BenchmarkResult:
    return BenchmarkResult(
        name="mmlu",
        kind="quality",
        mode="generative",
        started_at=T0 + timedelta(seconds=60),
        finished_at=T0 + timedelta(seconds=300),
        metrics=(
            Metric(name="accuracy", value=0.612, unit="ratio"),
            Metric(name="accuracy", value=0.7, unit="ratio", labels={"subject": "anatomy"}),
            Metric(name="accuracy_stderr", value=0.004, unit="ratio"),
        ),
    )


def document(run_id: str = "run-1", *, seed: int = 0) -> ResultDocument:
    return ResultDocument(
        run_id=run_id,
        info=RunInfo(
            model="/models/llama-7b.gguf",
            engine="llama_cpp",
            engine_version="b4500",
            suite="standard",
            agent="gpu-01",
            kitt_version="0.1.0",
            hardware=hardware(),
            started_at=T0,
        ),
        status="succeeded",
        finished_at=T0 + timedelta(seconds=300),
        benchmarks=(performance_result(seed), quality_result()),
    )


def run_events(doc: ResultDocument) -> list[Envelope]:
    events = [wrap(RunStarted(info=doc.info), doc.run_id, occurred_at=doc.info.started_at)]
    events += [wrap(BenchmarkCompleted(result=b), doc.run_id) for b in doc.benchmarks]
    assert doc.finished_at is not None
    events.append(
        wrap(RunFinished(status=doc.status, finished_at=doc.finished_at, error=doc.error), doc.run_id)
    )
    return events
