"""Serving metrics from request records, with vLLM's serving-benchmark definitions.

TTFT per request; ITL as every gap between token-bearing chunks, pooled over requests; TPOT per request as
(E2E - TTFT) / (output tokens - 1); throughput over the steady-state window, when every slot is busy.
"""

from collections.abc import Sequence

import msgspec

from kitt import stats
from kitt.bench.records import RequestRecord, WorkerStats
from kitt.events.results import Metric

CPU_SATURATED = 0.90  # a worker using more than this share of one core measures itself
LOOP_LAG_P99_MS = 10.0
LATENESS_P99_MS = 10.0


class Slo(msgspec.Struct, frozen=True, kw_only=True):
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def met(self, r: RequestRecord) -> bool:
        ttft, tpot = (r.ttft or 0.0) * 1000, _tpot(r)
        return (
            (self.ttft_ms is None or ttft <= self.ttft_ms)
            and (self.tpot_ms is None or tpot is None or tpot * 1000 <= self.tpot_ms)
            and (self.e2e_ms is None or r.end * 1000 <= self.e2e_ms)
        )


class Window(msgspec.Struct, frozen=True):
    start: float
    end: float
    kind: str  # "steady" | "full"

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 1e-9)


class Health(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool
    reason: str | None
    metrics: tuple[Metric, ...]


def _tpot(r: RequestRecord) -> float | None:
    if r.output_tokens < 2 or r.ttft is None:
        return None
    return (r.end - r.ttft) / (r.output_tokens - 1)


def steady_window(measured: Sequence[RequestRecord], concurrency: int | None) -> Window:
    """From when the last slot first started to when the first slot ran out of work."""
    starts = sorted(r.start for r in measured)
    ends = sorted(r.start + r.end for r in measured)
    full = Window(starts[0], ends[-1], "full")
    if concurrency is None or len(starts) < 2 * concurrency:
        return full
    begin = starts[concurrency - 1]
    finish = starts[-1]  # after the last send, fewer than all slots stay busy
    if finish - begin < 0.25 * (full.end - full.start):
        return full
    return Window(begin, finish, "steady")


def _dist(name: str, unit: str, values: Sequence[float], labels: dict[str, str]) -> list[Metric]:
    return [
        Metric(
            name=name,
            value=value,
            unit=unit,
            percentile=key if key.startswith("p") else None,
            labels=labels if key.startswith("p") else {**labels, "stat": key},
        )
        for key, value in stats.summary(values).items()
    ]


def serving_metrics(
    records: Sequence[RequestRecord], *, concurrency: int | None, slo: Slo | None, labels: dict[str, str]
) -> list[Metric]:
    measured = [r for r in records if not r.warmup]
    ok = [r for r in measured if r.ok]
    out = [
        Metric(name="completed", value=len(ok), unit="requests", labels=labels),
        Metric(name="failed", value=len(measured) - len(ok), unit="requests", labels=labels),
    ]
    if not ok:
        return out
    out += _dist("ttft", "ms", [r.ttft * 1000 for r in ok if r.ttft is not None], labels)
    out += _dist(
        "itl",
        "ms",
        [(b - a) * 1000 for r in ok for a, b in zip(r.chunk_offsets, r.chunk_offsets[1:], strict=False)],
        labels,
    )
    out += _dist("tpot", "ms", [t * 1000 for r in ok if (t := _tpot(r)) is not None], labels)
    out += _dist("e2e", "ms", [r.end * 1000 for r in ok], labels)
    window = steady_window(ok, concurrency)
    in_window = [r for r in ok if window.start <= r.start + r.end <= window.end]
    tokens = 0.0
    for r in ok:
        per_chunk = r.output_tokens / len(r.chunk_offsets)
        tokens += per_chunk * sum(1 for o in r.chunk_offsets if window.start <= r.start + o <= window.end)
    prompt = sum(r.prompt_tokens or 0 for r in in_window)
    wl = {**labels, "window": window.kind}
    out += [
        Metric(name="request_throughput", value=len(in_window) / window.seconds, unit="req/s", labels=wl),
        Metric(name="output_throughput", value=tokens / window.seconds, unit="tok/s", labels=wl),
        Metric(name="total_throughput", value=(tokens + prompt) / window.seconds, unit="tok/s", labels=wl),
        Metric(name="window", value=window.seconds, unit="s", labels=wl),
        Metric(name="output_tokens", value=sum(r.output_tokens for r in ok), unit="tokens", labels=labels),
    ]
    if slo is not None:
        good = sum(1 for r in in_window if slo.met(r))
        out.append(Metric(name="goodput", value=good / window.seconds, unit="req/s", labels=wl))
    return out


def client_health(workers: Sequence[WorkerStats], labels: dict[str, str]) -> Health:
    """The generator's own load; a result is invalid when the client, not the server, set the pace."""
    metrics: list[Metric] = []
    reasons: list[str] = []
    for w in workers:
        wl = {**labels, "worker": str(w.worker)}
        cpu = w.cpu_s / w.wall_s if w.wall_s > 0 else 0.0
        metrics.append(Metric(name="client_cpu", value=cpu * 100, unit="%", labels=wl))
        if cpu > CPU_SATURATED:
            reasons.append(f"worker {w.worker} used {cpu:.0%} of a core")
        if w.loop_lag_ms:
            lag99 = stats.percentile(sorted(w.loop_lag_ms), 99)
            metrics.append(
                Metric(name="client_loop_lag", value=lag99, unit="ms", percentile="p99", labels=wl)
            )
            if lag99 > LOOP_LAG_P99_MS:
                reasons.append(f"worker {w.worker} event-loop lag p99 {lag99:.1f} ms")
        if w.lateness_ms:
            late = sorted(w.lateness_ms)
            for q in (50.0, 99.0):
                metrics.append(
                    Metric(
                        name="schedule_lateness",
                        value=stats.percentile(late, q),
                        unit="ms",
                        percentile=f"p{q:g}",
                        labels=wl,
                    )
                )
            if stats.percentile(late, 99) > LATENESS_P99_MS:
                reasons.append(
                    f"worker {w.worker} sent requests late (p99 {stats.percentile(late, 99):.1f} ms)"
                )
    return Health(valid=not reasons, reason="; ".join(reasons) or None, metrics=tuple(metrics))
