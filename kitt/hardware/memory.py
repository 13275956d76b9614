"""GPU memory sampled during a benchmark: peak and steady per GPU, or system RAM on unified boards.

No GPU is recorded as unavailable (value None and the reason), never as zero.
"""

import contextlib
import threading
from pathlib import Path

from kitt import stats
from kitt.events.results import Metric

INTERVAL_S = 0.5


def _used_ram_mib() -> float | None:
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return (int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) / 1024
    except (OSError, KeyError, ValueError):
        return None


class MemorySampler:
    def __init__(self, *, unified: bool = False, interval_s: float = INTERVAL_S) -> None:
        self.unified = unified
        self.interval_s = interval_s
        self.samples: dict[str, list[float]] = {}
        self.unavailable: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._nvml = None

    def __enter__(self) -> "MemorySampler":
        if not self.unified:
            try:
                import pynvml

                pynvml.nvmlInit()
                self._nvml = pynvml
                if pynvml.nvmlDeviceGetCount() == 0:
                    self.unavailable = "no NVIDIA GPU"
            except Exception as exc:  # ImportError or any NVMLError: no GPU memory to sample
                self.unavailable = f"NVML unavailable: {exc}"
        if self.unavailable is None:
            self._thread = threading.Thread(target=self._run, name="kitt-memory", daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        if self.unified:
            used = _used_ram_mib()
            if used is not None:
                self.samples.setdefault("unified", []).append(used)
            return
        nvml = self._nvml
        assert nvml is not None
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            self.samples.setdefault(str(index), []).append(nvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self._sample()
            self._stop.wait(self.interval_s)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()

    def metrics(self, labels: dict[str, str]) -> list[Metric]:
        if self.unavailable is not None or not self.samples:
            reason = self.unavailable or "no samples taken"
            return [
                Metric(
                    name="gpu_memory_peak", value=None, unit="MiB", labels={**labels, "unavailable": reason}
                )
            ]
        out = []
        for gpu, values in self.samples.items():
            gl = {**labels, "gpu": gpu}
            out.append(Metric(name="gpu_memory_peak", value=max(values), unit="MiB", labels=gl))
            # steady: the median of the second half, after load-time allocations settle
            out.append(
                Metric(
                    name="gpu_memory_steady",
                    value=stats.median(values[len(values) // 2 :]),
                    unit="MiB",
                    labels=gl,
                )
            )
        return out
