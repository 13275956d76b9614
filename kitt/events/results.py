"""The KARR result document: one run of a model on an engine, with every benchmark's metrics.

These structs are both the payload of run events and the lossless export/import format.
"""

from datetime import datetime

import msgspec

from kitt.events.states import (
    BenchmarkKind,
    BenchmarkStatus,
    QualityMode,
    RunStatus,
    RuntimeName,
)

RESULT_SCHEMA_VERSION = 1


class Gpu(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    index: int
    name: str
    memory_mib: int | None = None
    compute_capability: str | None = None
    driver: str | None = None
    uuid: str | None = None


class Hardware(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    fingerprint: str
    hostname: str | None = None
    os: str | None = None
    arch: str | None = None
    cpu_model: str | None = None
    cpu_cores: int | None = None
    ram_mib: int | None = None
    unified_memory: bool = False
    gpus: tuple[Gpu, ...] = ()


class Metric(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """One figure. Nested figures (ttft.p99, mmlu.subject.anatomy) become labels, never dropped."""

    name: str
    value: float | None
    unit: str = ""
    percentile: str | None = None
    labels: dict[str, str] = {}


Sample = dict[str, float | int | str | bool | None]


class RecordsRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Where a benchmark's per-request records are: JSON lines in chunks on the RECORDS stream.

    Records travel out of band so that no event grows with a test's length; the digest covers every
    chunk's bytes in order, so a reader knows it has all of them, unchanged.
    """

    subject: str
    count: int
    chunks: int
    bytes: int
    sha256: str


class BenchmarkResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    name: str
    kind: BenchmarkKind
    status: BenchmarkStatus = "succeeded"
    mode: QualityMode | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    metrics: tuple[Metric, ...] = ()
    samples: tuple[Sample, ...] = ()  # inline only in documents read or written as files (export)
    records: RecordsRef | None = None
    settings: dict[str, str | int | float | bool | None] = {}


class RunInfo(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    model: str
    engine: str
    engine_version: str | None = None
    engine_image: str | None = None
    engine_image_id: str | None = None  # the docker image's content digest (sha256:…) the run used
    runtime: RuntimeName | None = None
    engine_profile: str | None = None
    engine_args: tuple[str, ...] = ()  # the launch arguments, profile included
    model_format: str | None = None
    suite: str | None = None
    agent: str | None = None
    kitt_version: str | None = None
    simulated: bool = False
    hardware: Hardware | None = None
    started_at: datetime


class ResultDocument(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    schema_version: int = RESULT_SCHEMA_VERSION
    run_id: str
    info: RunInfo
    status: RunStatus = "running"
    finished_at: datetime | None = None
    error: str | None = None
    benchmarks: tuple[BenchmarkResult, ...] = ()
