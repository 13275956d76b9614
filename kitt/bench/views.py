"""Other tools' figures from KITT's records: what vLLM's, guidellm's and aiperf's benchmarks would report.

Their definitions differ (docs/benchmarks.md has them side by side), so one set of records gives three sets
of numbers. Every view is computed from the same per-request records, after warm-up, successful requests
only:

- **vllm** (`vllm bench serve`): TTFT; TPOT = (E2E - TTFT) / (output tokens - 1) per request; ITL = every
  gap between chunks, pooled over requests; E2EL; throughput over the benchmark's whole duration (first
  send to last response).
- **guidellm**: TTFT; ITL = (last token - first token) / (output tokens - 1) per request; TPOT = (last token
  - request start) / output tokens per request, first token included; request latency; rates over the
  whole duration.
- **aiperf**: TTFT; ITL = (request latency - TTFT) / (output tokens - 1) per request (vLLM's TPOT); request
  latency; output token throughput per user = 1000 / ITL; throughput over the whole duration.
"""

from typing import Literal, get_args

import msgspec
import numpy as np

from kitt import stats
from kitt.bench.columns import Floats, RecordColumns

View = Literal["vllm", "guidellm", "aiperf"]
VIEWS: tuple[str, ...] = get_args(View)

_STATS = {
    "vllm": ("mean", "p50", "std", "p99"),
    "guidellm": ("mean", "p50", "p90", "p95", "p99"),
    "aiperf": ("mean", "min", "max", "p50", "p90", "p99", "std"),
}


class Figure(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # the tool's own name for it
    value: float | None
    unit: str
    stat: str | None = None  # mean, p50, ... for a distribution


def _distribution(name: str, unit: str, values: Floats, wanted: tuple[str, ...]) -> list[Figure]:
    return _figures(name, unit, stats.summary(values), wanted)


def _figures(name: str, unit: str, summary: dict[str, float], wanted: tuple[str, ...]) -> list[Figure]:
    return [Figure(name=name, value=summary.get(key), unit=unit, stat=key) for key in wanted]


class _Measured(msgspec.Struct, frozen=True):
    ttft: Floats
    e2e: Floats
    last: Floats  # the last chunk's offset
    output: Floats
    prompt: Floats
    itl: dict[str, float]  # the pooled gaps' summary, in ms
    duration: float
    count: int


def _measured(columns: RecordColumns) -> _Measured:
    ok = columns.ok & ~columns.warmup
    starts = columns.start[ok]
    finishes = starts + columns.end[ok]
    duration = float(finishes.max() - starts.min()) if starts.size else 0.0
    return _Measured(
        ttft=columns.ttft[ok],
        e2e=columns.end[ok],
        last=columns.last[ok],
        output=columns.output_tokens[ok].astype(np.float64),
        prompt=np.clip(columns.prompt_tokens[ok], 0, None).astype(np.float64),
        itl={key: value * 1000 for key, value in columns.itl.summary().items()},
        duration=duration,
        count=int(ok.sum()),
    )


def _per_token(numerator: Floats, tokens: Floats) -> Floats:
    keep = tokens > 0
    return numerator[keep] / tokens[keep]


def _throughput(m: _Measured, names: tuple[str, str, str]) -> list[Figure]:
    seconds = max(m.duration, 1e-9)
    out_tokens = float(m.output.sum())
    return [
        Figure(name=names[0], value=m.count / seconds, unit="req/s"),
        Figure(name=names[1], value=out_tokens / seconds, unit="tok/s"),
        Figure(name=names[2], value=(out_tokens + float(m.prompt.sum())) / seconds, unit="tok/s"),
    ]


def vllm(columns: RecordColumns) -> list[Figure]:
    m = _measured(columns)
    if not m.count:
        return [Figure(name="successful_requests", value=0, unit="requests")]
    many = m.output > 1
    tpot = _per_token(m.e2e[many] - m.ttft[many], m.output[many] - 1)
    wanted = _STATS["vllm"]
    return [
        Figure(name="successful_requests", value=m.count, unit="requests"),
        Figure(name="benchmark_duration", value=m.duration, unit="s"),
        *_throughput(m, ("request_throughput", "output_throughput", "total_token_throughput")),
        *_distribution("ttft", "ms", m.ttft * 1000, wanted),
        *_distribution("tpot", "ms", tpot * 1000, wanted),
        *_figures("itl", "ms", m.itl, wanted),
        *_distribution("e2el", "ms", m.e2e * 1000, wanted),
    ]


def guidellm(columns: RecordColumns) -> list[Figure]:
    m = _measured(columns)
    if not m.count:
        return [Figure(name="successful_requests", value=0, unit="requests")]
    many = m.output > 1
    itl = _per_token(m.last[many] - m.ttft[many], m.output[many] - 1)
    tpot = _per_token(m.last, m.output)
    wanted = _STATS["guidellm"]
    return [
        Figure(name="successful_requests", value=m.count, unit="requests"),
        Figure(name="duration", value=m.duration, unit="s"),
        *_throughput(m, ("requests_per_second", "output_tokens_per_second", "tokens_per_second")),
        *_distribution("time_to_first_token_ms", "ms", m.ttft * 1000, wanted),
        *_distribution("inter_token_latency_ms", "ms", itl * 1000, wanted),
        *_distribution("time_per_output_token_ms", "ms", tpot * 1000, wanted),
        *_distribution("request_latency", "ms", m.e2e * 1000, wanted),
    ]


def aiperf(columns: RecordColumns) -> list[Figure]:
    m = _measured(columns)
    if not m.count:
        return [Figure(name="request_count", value=0, unit="requests")]
    many = m.output > 1
    itl = _per_token(m.e2e[many] - m.ttft[many], m.output[many] - 1)
    wanted = _STATS["aiperf"]
    per_user = 1.0 / itl[itl > 0]
    return [
        Figure(name="request_count", value=m.count, unit="requests"),
        Figure(name="benchmark_duration", value=m.duration, unit="s"),
        *_throughput(m, ("request_throughput", "output_token_throughput", "total_token_throughput")),
        *_distribution("time_to_first_token", "ms", m.ttft * 1000, wanted),
        *_distribution("inter_token_latency", "ms", itl * 1000, wanted),
        *_distribution("output_token_throughput_per_user", "tok/s/user", per_user, wanted),
        *_distribution("request_latency", "ms", m.e2e * 1000, wanted),
        *_distribution("output_sequence_length", "tokens", m.output, wanted),
    ]


def compute(view: View, columns: RecordColumns) -> list[Figure]:
    if view == "vllm":
        return vllm(columns)
    if view == "guidellm":
        return guidellm(columns)
    if view == "aiperf":
        return aiperf(columns)
    raise ValueError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
