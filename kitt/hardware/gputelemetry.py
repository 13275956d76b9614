"""What each GPU did during a benchmark level: power, utilisation, memory and SM clock once a second (NVML),
and the energy the level took.

Energy is NVML's own counter (`nvmlDeviceGetTotalEnergyConsumption`, millijoules since the driver loaded,
Volta and later) read at the level's start and end; where a GPU has no counter, the power samples are
integrated over time (trapezoids). With the level's output tokens that gives the figures no load
generator joins: **joules per output token** and **output tokens per second per watt**. Sampling runs in
a thread, off the load generator's event loop. No GPU (or no NVML) gives no figures, and says why.
"""

import contextlib
import itertools
import threading
import time
from types import ModuleType
from typing import Any

import msgspec

from kitt.events.results import Metric

INTERVAL_S = 1.0


class GpuSample(msgspec.Struct, frozen=True):
    at: float  # seconds after the level started
    power_w: float | None
    utilization_pct: float | None
    memory_used_mib: float | None
    sm_clock_mhz: float | None


def _load_nvml() -> ModuleType:
    import pynvml

    return pynvml


class GpuTelemetry:
    """`with GpuTelemetry():` around a level; then `metrics(labels, output_tokens=...)`.

    `nvml`: the NVML binding (pynvml's functions); tests hand in a recorded sequence in its place.
    """

    def __init__(self, *, nvml: Any = None, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.samples: dict[int, list[GpuSample]] = {}
        self.energy_j: dict[int, float] = {}
        self.unavailable: str | None = None
        self._nvml: Any = nvml
        self._handles: list[Any] = []
        self._energy0: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def __enter__(self) -> "GpuTelemetry":
        try:
            if self._nvml is None:
                self._nvml = _load_nvml()
            self._nvml.nvmlInit()
            count = self._nvml.nvmlDeviceGetCount()
            self._handles = [self._nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception as exc:  # ImportError or any NVMLError: no GPU to watch
            self.unavailable = f"NVML unavailable: {exc}"
            return self
        if not self._handles:
            self.unavailable = "no NVIDIA GPU"
            return self
        self._t0 = time.perf_counter()
        for index, handle in enumerate(self._handles):
            if (mj := self._read(self._nvml.nvmlDeviceGetTotalEnergyConsumption, handle)) is not None:
                self._energy0[index] = mj
        self._sample()
        self._thread = threading.Thread(target=self._run, name="kitt-gpu-telemetry", daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _read(call: Any, *args: Any) -> float | None:
        try:
            return float(call(*args))
        except Exception:  # a GPU that does not support this reading: none, not zero
            return None

    def _sample(self) -> None:
        nvml, at = self._nvml, time.perf_counter() - self._t0
        for index, handle in enumerate(self._handles):
            power_mw = self._read(nvml.nvmlDeviceGetPowerUsage, handle)
            try:
                utilization: float | None = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except Exception:
                utilization = None
            try:
                used: float | None = nvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
            except Exception:
                used = None
            clock = self._read(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM)
            self.samples.setdefault(index, []).append(
                GpuSample(
                    at=at,
                    power_w=None if power_mw is None else power_mw / 1000,
                    utilization_pct=utilization,
                    memory_used_mib=used,
                    sm_clock_mhz=clock,
                )
            )

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with contextlib.suppress(Exception):
                self._sample()

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self._sample()  # the level's last second
        for index, handle in enumerate(self._handles):
            self.energy_j[index] = self._energy(index, handle)
        with contextlib.suppress(Exception):
            self._nvml.nvmlShutdown()

    def _energy(self, index: int, handle: Any) -> float:
        start = self._energy0.get(index)
        end = self._read(self._nvml.nvmlDeviceGetTotalEnergyConsumption, handle)
        if start is not None and end is not None and end >= start:
            return (end - start) / 1000
        points = [(s.at, s.power_w) for s in self.samples.get(index, []) if s.power_w is not None]
        return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in itertools.pairwise(points))

    def metrics(self, labels: dict[str, str], *, output_tokens: int) -> list[Metric]:
        """Per GPU: power, utilisation and memory (mean, max), SM clock (mean) and energy; for the level:
        energy over every GPU, joules per output token and output tokens per second per watt."""
        if self.unavailable is not None or not self.samples:
            return []
        out: list[Metric] = []
        for index, samples in self.samples.items():
            gl = {**labels, "gpu": str(index)}
            for name, unit, field in (
                ("gpu_power", "W", "power_w"),
                ("gpu_utilization", "%", "utilization_pct"),
                ("gpu_memory_used", "MiB", "memory_used_mib"),
                ("gpu_sm_clock", "MHz", "sm_clock_mhz"),
            ):
                values = [v for s in samples if (v := getattr(s, field)) is not None]
                if values:
                    for stat, value in (("mean", sum(values) / len(values)), ("max", max(values))):
                        out.append(Metric(name=name, value=value, unit=unit, labels={**gl, "stat": stat}))
            out.append(Metric(name="gpu_energy", value=self.energy_j.get(index), unit="J", labels=gl))
        energy = sum(self.energy_j.values())
        out.append(Metric(name="energy", value=energy, unit="J", labels=labels))
        if output_tokens > 0 and energy > 0:
            # Tokens per second per watt is tokens per joule: the level's tokens over its energy.
            out += [
                Metric(
                    name="joules_per_output_token", value=energy / output_tokens, unit="J/tok", labels=labels
                ),
                Metric(
                    name="output_tokens_per_watt", value=output_tokens / energy, unit="tok/s/W", labels=labels
                ),
            ]
        return out
