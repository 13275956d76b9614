"""Serving metrics from request records, with vLLM's serving-benchmark definitions.

TTFT per request; ITL as every gap between token-bearing chunks, pooled over requests; TPOT per request as
(E2E - TTFT) / (output tokens - 1); throughput over the steady-state window, when every slot is busy.
"""

from collections.abc import Sequence

import msgspec
import numpy as np

from kitt import stats
from kitt.bench.columns import Bools, Floats, RecordColumns
from kitt.bench.records import WorkerStats
from kitt.bench.sketch import Sketch
from kitt.events.results import Metric
from kitt.events.validity import VALID_METRIC

CPU_SATURATED = 0.90  # a worker using more than this share of one core measures itself
LOOP_LAG_P99_MS = 10.0
LATENESS_P99_MS = 10.0


class Slo(msgspec.Struct, frozen=True, kw_only=True):
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def met(self, ttft_s: Floats, tpot_s: Floats, e2e_s: Floats) -> Bools:
        """Which requests met every target (a request with one token has no TPOT to miss)."""
        good = np.ones(ttft_s.shape, dtype=bool)
        if self.ttft_ms is not None:
            good &= np.nan_to_num(ttft_s) * 1000 <= self.ttft_ms
        if self.tpot_ms is not None:
            good &= np.isnan(tpot_s) | (tpot_s * 1000 <= self.tpot_ms)
        if self.e2e_ms is not None:
            good &= e2e_s * 1000 <= self.e2e_ms
        return good


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


def tpot(columns: RecordColumns) -> Floats:
    """(E2E - TTFT) / (output tokens - 1) per request; NaN where fewer than two tokens came."""
    out = columns.output_tokens.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (columns.end - columns.ttft) / (out - 1)
    return np.where((out >= 2) & ~np.isnan(columns.ttft), value, np.nan)


def steady_window(starts: Floats, ends: Floats, concurrency: int | None) -> Window:
    """From when the last slot first started to when the first slot ran out of work."""
    starts, ends = np.sort(starts), np.sort(ends)
    full = Window(float(starts[0]), float(ends[-1]), "full")
    if concurrency is None or starts.size < 2 * concurrency:
        return full
    begin = float(starts[concurrency - 1])
    finish = float(starts[-1])  # after the last send, fewer than all slots stay busy
    if finish - begin < 0.25 * (full.end - full.start):
        return full
    return Window(begin, finish, "steady")


def _dist(name: str, unit: str, values: Floats, labels: dict[str, str]) -> list[Metric]:
    return _summarised(name, unit, stats.summary(values), labels)


def _summarised(name: str, unit: str, summary: dict[str, float], labels: dict[str, str]) -> list[Metric]:
    return [
        Metric(
            name=name,
            value=value,
            unit=unit,
            percentile=key if key.startswith("p") else None,
            labels=labels if key.startswith("p") else {**labels, "stat": key},
        )
        for key, value in summary.items()
    ]


def serving_metrics(
    columns: RecordColumns, *, concurrency: int | None, slo: Slo | None, labels: dict[str, str]
) -> list[Metric]:
    measured = ~columns.warmup
    ok = measured & columns.ok
    n_ok = int(ok.sum())
    out = [
        Metric(name="completed", value=n_ok, unit="requests", labels=labels),
        Metric(name="failed", value=int(measured.sum()) - n_ok, unit="requests", labels=labels),
    ]
    if not n_ok:
        return out
    ttft, e2e, per_token = columns.ttft[ok], columns.end[ok], tpot(columns)[ok]
    out += _dist("ttft", "ms", ttft * 1000, labels)
    itl = {key: value * 1000 for key, value in columns.itl.summary().items()}
    out += _summarised("itl", "ms", itl, labels)
    out += _dist("tpot", "ms", per_token[~np.isnan(per_token)] * 1000, labels)
    out += _dist("e2e", "ms", e2e * 1000, labels)
    starts = columns.start[ok]
    finishes = starts + e2e
    window = steady_window(starts, finishes, concurrency)
    in_window = (finishes >= window.start) & (finishes <= window.end)
    tokens = columns.timeline.between(window.start, window.end)
    prompt = float(np.clip(columns.prompt_tokens[ok][in_window], 0, None).sum())
    wl = {**labels, "window": window.kind}
    out += [
        Metric(
            name="request_throughput", value=int(in_window.sum()) / window.seconds, unit="req/s", labels=wl
        ),
        Metric(name="output_throughput", value=tokens / window.seconds, unit="tok/s", labels=wl),
        Metric(name="total_throughput", value=(tokens + prompt) / window.seconds, unit="tok/s", labels=wl),
        Metric(name="window", value=window.seconds, unit="s", labels=wl),
        Metric(
            name="output_tokens", value=int(columns.output_tokens[ok].sum()), unit="tokens", labels=labels
        ),
    ]
    if slo is not None:
        good = int((slo.met(ttft, per_token, e2e) & in_window).sum())
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
        lag = Sketch.of(w.loop_lag_ms)
        if lag.count:
            lag99 = lag.percentile(99)
            metrics.append(
                Metric(name="client_loop_lag", value=lag99, unit="ms", percentile="p99", labels=wl)
            )
            if lag99 > LOOP_LAG_P99_MS:
                reasons.append(f"worker {w.worker} event-loop lag p99 {lag99:.1f} ms")
        late = Sketch.of(w.lateness_ms)
        if late.count:
            for q in (50.0, 99.0):
                metrics.append(
                    Metric(
                        name="schedule_lateness",
                        value=late.percentile(q),
                        unit="ms",
                        percentile=f"p{q:g}",
                        labels=wl,
                    )
                )
            if late.percentile(99) > LATENESS_P99_MS:
                reasons.append(f"worker {w.worker} sent requests late (p99 {late.percentile(99):.1f} ms)")
    # One verdict per level, labelled like its figures: lists count invalid levels, compare refuses them.
    metrics.append(Metric(name=VALID_METRIC, value=0.0 if reasons else 1.0, unit="", labels=labels))
    return Health(valid=not reasons, reason="; ".join(reasons) or None, metrics=tuple(metrics))
