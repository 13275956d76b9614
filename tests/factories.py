"""Builders for realistic events and result documents used across tests and benchmarks."""

from datetime import UTC, datetime, timedelta

from kitt.bench import loadgen
from kitt.engines import dialects
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


def sweep_document(
    run_id: str,
    *,
    engine: str = "vllm",
    scale: float = 1.0,
    started_at: datetime = T0,
    model: str = "llama-8b",
) -> ResultDocument:
    """A run with a concurrency sweep (latency percentiles and throughput per level) and a quality score:
    `scale` > 1 makes it faster (lower latency, higher throughput)."""
    metrics: list[Metric] = []
    for level in (1, 4, 16):
        labels = {"concurrency": str(level), "run": "0"}
        for name, base in (("ttft", 40.0), ("itl", 12.0), ("tpot", 12.5), ("e2e", 1600.0)):
            for q, factor in (("p50", 1.0), ("p90", 1.3), ("p95", 1.5), ("p99", 2.0)):
                value = base * factor * (1 + level / 8) / scale
                metrics.append(Metric(name=name, value=value, unit="ms", percentile=q, labels=labels))
        window = {**labels, "window": "steady"}
        metrics.append(
            Metric(name="output_throughput", value=90.0 * level**0.8 * scale, unit="tok/s", labels=window)
        )
        metrics.append(
            Metric(name="request_throughput", value=0.7 * level**0.8 * scale, unit="req/s", labels=window)
        )
    performance = BenchmarkResult(
        name="throughput", kind="performance", started_at=started_at, metrics=tuple(metrics)
    )
    quality = BenchmarkResult(
        name="gsm8k",
        kind="quality",
        mode="generative",
        metrics=(
            Metric(name="score", value=0.60, unit="fraction", labels={"task": "gsm8k"}),
            Metric(name="score_stderr", value=0.01, unit="fraction", labels={"task": "gsm8k"}),
        ),
    )
    return ResultDocument(
        run_id=run_id,
        info=RunInfo(
            model=model,
            engine=engine,
            engine_version="0.6.3",
            suite="standard",
            agent="gpu-01",
            hardware=hardware(),
            started_at=started_at,
        ),
        status="succeeded",
        finished_at=started_at + timedelta(seconds=120),
        benchmarks=(performance, quality),
    )


def measured(status: str, error: str | None) -> bool:
    """A level that ran: succeeded, or "invalid" because the load generator's self-check found its own
    worker saturated (CPU or event-loop lag), which it must say on a busy machine with other tests beside
    it; the engine and the whole measurement path still ran."""
    return status == "succeeded" or (status == "invalid" and "worker" in (error or ""))


def forced_plan(endpoint, prompt: str, max_tokens: int, requests: int, concurrency: int = 2):
    """A completions level of `requests` identical requests, each forced to `max_tokens` tokens where the
    engine allows (min_tokens), its chunking as the engine's spec says."""

    spec = endpoint.spec
    request = dialects.GenRequest(
        model=endpoint.model, prompt=prompt, max_tokens=max_tokens, force_length=True
    )
    return loadgen.LoadPlan(
        host=endpoint.host,
        port=endpoint.port,
        dialect="openai",
        path="/v1/completions",
        bodies=(dialects.OpenAI(min_tokens=True).body(request),),
        concurrency=concurrency,
        max_requests=requests,
        min_tokens=True,
        chunk_per_token=spec.chunk_per_token,
    )
