"""An engine's Prometheus metrics, read by name: the text exposition format, and what KITT calls each one.

Each engine names the same thing differently (vLLM `vllm:num_requests_running`, llama.cpp
`llamacpp:requests_processing`, TGI `tgi_batch_current_size`); its `EngineSpec.prometheus` maps KITT's
names onto its own, alternatives first found wins (engines rename metrics between versions). Only the
lines wanted are parsed, as a scrape happens on the load generator's event loop: vLLM's page is ~100 KB.
"""

import math
import re
from typing import Literal

import msgspec


class PromMetric(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # KITT's: the result's metric is `engine_<name>`
    sources: tuple[str, ...]  # the engine's names for it, the first one present wins
    kind: Literal["gauge", "counter"]  # a counter is reported as its rate per second
    unit: str
    scale: float = 1.0  # e.g. 100 for a 0..1 ratio reported in %


_NAME = re.compile(rb"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")


class PrometheusError(ValueError):
    """A metrics page that is not Prometheus text."""


def parse(body: bytes, wanted: frozenset[str]) -> dict[str, float]:
    """The value of each wanted metric, summed over its label sets (one engine, several models or
    workers); a histogram's `_sum` and `_count` are wanted under those names."""
    values: dict[str, float] = {}
    for raw in body.splitlines():
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        brace, space = line.find(b"{"), line.find(b" ")
        end = brace if brace != -1 and (space == -1 or brace < space) else space
        if end <= 0 or not _NAME.match(line[:end]):
            raise PrometheusError(f"not a metric line: {raw[:80]!r}")
        name = line[:end].decode("ascii")
        if name not in wanted:
            continue
        rest = line[line.rindex(b"}") + 1 :] if brace == end else line[end:]
        fields = rest.split()
        if not fields:
            raise PrometheusError(f"{name}: no value")
        try:
            value = float(fields[0])
        except ValueError:
            raise PrometheusError(f"{name}: {fields[0][:40]!r} is not a number") from None
        if not math.isnan(value):
            values[name] = values.get(name, 0.0) + value
    return values


def pick(values: dict[str, float], metric: PromMetric) -> float | None:
    """This metric's value, by the first of its engine names the page had."""
    for source in metric.sources:
        if source in values:
            return values[source] * metric.scale
    return None


def _gauge(name: str, *sources: str, unit: str = "requests", scale: float = 1.0) -> PromMetric:
    return PromMetric(name=name, sources=sources, kind="gauge", unit=unit, scale=scale)


def _rate(name: str, *sources: str, unit: str = "tok/s") -> PromMetric:
    return PromMetric(name=name, sources=sources, kind="counter", unit=unit)


# vLLM (V1 engine names first, then the V0 ones).
VLLM = (
    _gauge("requests_running", "vllm:num_requests_running"),
    _gauge("requests_waiting", "vllm:num_requests_waiting"),
    _gauge(
        "kv_cache_usage",
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        "vllm:cpu_cache_usage_perc",
        unit="%",
        scale=100.0,
    ),
    _rate("prompt_tokens", "vllm:prompt_tokens_total"),
    _rate("generation_tokens", "vllm:generation_tokens_total"),
    _rate("prefix_cache_queries", "vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
    _rate("prefix_cache_hits", "vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
    _rate("preemptions", "vllm:num_preemptions_total", unit="1/s"),
)
# llama-server started with --metrics.
LLAMA_CPP = (
    _gauge("requests_running", "llamacpp:requests_processing"),
    _gauge("requests_waiting", "llamacpp:requests_deferred"),
    _gauge("kv_cache_usage", "llamacpp:kv_cache_usage_ratio", unit="%", scale=100.0),
    _rate("prompt_tokens", "llamacpp:prompt_tokens_total"),
    _rate("generation_tokens", "llamacpp:tokens_predicted_total"),
    _rate("prefix_cache_hits", "llamacpp:prompt_tokens_cached_total"),
    _rate("decode_calls", "llamacpp:n_decode_total", unit="1/s"),
    _gauge("busy_slots_per_decode", "llamacpp:n_busy_slots_per_decode", unit="slots"),
)
# TGI's router.
TGI = (
    _gauge("requests_running", "tgi_batch_current_size"),
    _gauge("requests_waiting", "tgi_queue_size"),
    _gauge("batch_max_tokens", "tgi_batch_current_max_tokens", unit="tokens"),
    _rate("prompt_tokens", "tgi_request_input_length_sum"),
    _rate("generation_tokens", "tgi_request_generated_tokens_sum"),
)
