"""A benchmark's per-second telemetry as rows: the engine's scrapes and each GPU's samples, level by level.

The per-level summaries (mean, max) are metrics of the result; the series behind them travel like the
per-request records, out of band (`BenchmarkResult.telemetry_records`, a subject of its own beside the
records'), so no event grows with a level's length. One row a second:
`{"series": "engine", "t": 3.0, <level labels>, "requests_running": 4.0, ...}` (a counter as its rate per
second over the interval ending at `t`), or `{"series": "gpu", "gpu": 0, "t": 3.0, <level labels>,
"power_w": ..., "utilization_pct": ..., "memory_used_mib": ..., "sm_clock_mhz": ...}`; `t` is seconds
after the level began.
"""

from collections import defaultdict
from collections.abc import Iterable

from kitt.bench.enginewatch import EngineWatch
from kitt.events.results import Sample
from kitt.events.validity import LEVEL_KEYS
from kitt.hardware.gputelemetry import GpuTelemetry

ENGINE = "engine"
GPU = "gpu"
GPU_FIELDS = ("power_w", "utilization_pct", "memory_used_mib", "sm_clock_mhz")
_BASE = frozenset(("series", "t", "gpu", "run", *LEVEL_KEYS))


def engine_rows(watch: EngineWatch, labels: dict[str, float | int]) -> list[Sample]:
    """One row per scrape time that has a value: gauges as read, counters as rates."""
    by_time: dict[float, Sample] = {}
    for metric in watch.spec.prometheus:
        for at, value in watch.series(metric.name):
            by_time.setdefault(at, {"series": ENGINE, "t": at, **labels})[metric.name] = value
    return [by_time[t] for t in sorted(by_time)]


def gpu_rows(gpu: GpuTelemetry, labels: dict[str, float | int]) -> list[Sample]:
    rows: list[Sample] = []
    for index, samples in sorted(gpu.samples.items()):
        for s in samples:
            row: Sample = {"series": GPU, "gpu": index, "t": s.at, **labels}
            row.update({field: getattr(s, field) for field in GPU_FIELDS})
            rows.append(row)
    return rows


def values(row: Sample) -> dict[str, float]:
    """A row's readings (what is neither its series, time, GPU nor level)."""
    return {k: float(v) for k, v in row.items() if k not in _BASE and isinstance(v, int | float)}


def end_to_end(rows: Iterable[Sample], series: str) -> dict[str, list[tuple[float, float]]]:
    """Each reading of one series over the whole benchmark, its levels laid one after another in the order
    they ran (a level's time axis starts where the one before it ended): reading -> [(seconds, value)].
    A multi-GPU series is one line per GPU (`power_w gpu 1`)."""
    offset, level_end, current = 0.0, 0.0, None
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        if row.get("series") != series:
            continue
        level = tuple(row.get(k) for k in (*LEVEL_KEYS, "run"))
        if level != current:
            offset, current = offset + level_end, level
            level_end = 0.0
        t = float(row["t"] or 0.0)
        level_end = max(level_end, t)
        suffix = f" gpu {row['gpu']}" if series == GPU else ""
        for name, value in values(row).items():
            out[f"{name}{suffix}"].append((offset + t, value))
    return dict(out)
