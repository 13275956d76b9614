"""What a load-generator run is asked to do, and what it hands back."""

from collections.abc import Callable
from typing import Literal

import msgspec

from kitt.bench.columns import RecordColumns
from kitt.bench.records import RequestRecord, WorkerStats
from kitt.bench.schedule import Schedule
from kitt.engines.dialects import GenRequest
from kitt.engines.specs import Dialect as DialectName


class LoadPlan(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int
    dialect: DialectName
    streams_usage: bool = True
    min_tokens: bool = False
    chunk_per_token: bool = False
    path: str
    bodies: tuple[bytes, ...]  # rotated through; built once
    mode: Literal["concurrency", "rate", "sessions"] = "concurrency"  # sessions: multi-turn chats
    concurrency: int = 1
    arrivals: tuple[float, ...] = ()  # rate mode from a trace: send times, seconds after t0
    schedule: Schedule | None = None  # rate mode: send times made as needed (kitt.bench.schedule)
    max_requests: int | None = None
    max_duration_s: float | None = None
    warmup_requests: int = 0
    request_timeout_s: float = 300.0
    max_error_rate: float | None = None  # past it, clearly, the worker stops sending (kitt.bench.errors)
    template: GenRequest | None = None  # sessions: every turn's body is built from it, in the worker
    turns: int = 1
    think_time_s: float = 0.0
    turn_prompts: tuple[str, ...] = ()
    stride: int = 1  # workers sharing the plan: worker w's i-th request is request i * stride + w


class LoadResult(msgspec.Struct, kw_only=True):
    columns: RecordColumns  # every record, as columns; the records themselves went to `on_records`
    workers: list[WorkerStats]
    t0: float
    duration_s: float


OnRecords = Callable[[list[RequestRecord]], None]
EMIT_EVERY = 256  # records a worker hands on at a time: it keeps no more than this
