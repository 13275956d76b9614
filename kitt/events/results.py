"""The KARR result document: one run of a model on an engine, with every benchmark's metrics.

These structs are both the payload of run events and the lossless export/import format.
"""

from datetime import datetime

import msgspec

from kitt.events.bounds import Count, Index, Label, Location, Name, Percentile, Short, Text, Unit
from kitt.events.states import (
    BenchmarkKind,
    BenchmarkStatus,
    QualityMode,
    RunStatus,
    RuntimeName,
)

RESULT_SCHEMA_VERSION = 1


class Gpu(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    index: Index
    name: Label
    memory_mib: Count | None = None
    compute_capability: Short | None = None
    driver: Name | None = None
    uuid: Name | None = None


class Hardware(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    fingerprint: Name
    hostname: Label | None = None
    os: Label | None = None
    arch: Short | None = None
    cpu_model: Label | None = None
    cpu_cores: Count | None = None
    ram_mib: Count | None = None
    unified_memory: bool = False
    gpus: tuple[Gpu, ...] = ()


class Metric(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """One figure. Nested figures (ttft.p99, mmlu.subject.anatomy) become labels, never dropped."""

    name: Label
    value: float | None
    unit: Unit = ""
    percentile: Percentile | None = None
    labels: dict[Label, Label] = {}


Sample = dict[str, float | int | str | bool | None]


class RecordsRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Where a benchmark's per-request records are: JSON lines in chunks on the RECORDS stream.

    Records travel out of band so that no event grows with a test's length; the digest covers every
    chunk's bytes in order, so a reader knows it has all of them, unchanged.
    """

    subject: Location
    count: Count
    chunks: Count
    bytes: Count
    sha256: Short


class BenchmarkResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    name: Name
    kind: BenchmarkKind
    status: BenchmarkStatus = "succeeded"
    mode: QualityMode | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: Text | None = None
    metrics: tuple[Metric, ...] = ()
    samples: tuple[Sample, ...] = ()  # inline only in documents read or written as files (export)
    records: RecordsRef | None = None
    # the engine's and the GPUs' per-second series (kitt.bench.telemetry): the same two forms
    telemetry: tuple[Sample, ...] = ()
    telemetry_records: RecordsRef | None = None
    settings: dict[Label, Text | Count | float | bool | None] = {}


class RunInfo(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    model: Location
    engine: Short
    engine_version: Name | None = None
    engine_image: Location | None = None
    engine_image_id: Name | None = None  # the docker image's content digest (sha256:…) the run used
    runtime: RuntimeName | None = None
    engine_profile: Name | None = None
    engine_args: tuple[Text, ...] = ()  # the launch arguments, profile included
    model_format: Short | None = None
    suite: Name | None = None  # the suite's name (a file's `name:`), what lists show
    suite_file: Location | None = None  # the file it was read from, when the run was given a path
    agent: Name | None = None
    kitt_version: Short | None = None
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
