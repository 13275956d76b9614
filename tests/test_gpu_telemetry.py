"""GPU telemetry during a level (kitt.hardware.gputelemetry), at the NVML boundary.

No GPU here, and no GPU machine was lent to record one: `ReplayedNvml` answers pynvml's calls with a
sequence written from NVML's documented API (milliwatts, millijoules since the driver loaded, percent,
bytes, MHz) for two GPUs, one with an energy counter (Volta and later) and one without, whose readings
also fail where NVML says "not supported". On this machine the real pynvml finds no GPU, and a benchmark
reports no GPU figures rather than zeros.
"""

import threading

import msgspec
import pytest

from kitt.bench import telemetry
from kitt.events.results import Metric, ResultDocument
from kitt.hardware.gputelemetry import GpuTelemetry
from kitt.storage import compare
from tests import factories


class NotSupported(Exception):
    """pynvml's NVMLError_NotSupported, as a reading a GPU does not offer raises it."""


class _Utilization(msgspec.Struct):
    gpu: int
    memory: int


class _Memory(msgspec.Struct):
    total: int
    used: int
    free: int


class ReplayedNvml:
    """pynvml's calls, by its own (camel-case) names."""

    NVML_CLOCK_SM = 1

    def __init__(self) -> None:
        self.calls = {"energy": 0, "power": 0}
        self.sampled = threading.Event()  # set once each GPU has been sampled ten times
        self.shut = False

    def nvmlInit(self) -> None:
        return None

    def nvmlShutdown(self) -> None:
        self.shut = True

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        if handle == 1:
            raise NotSupported("Not Supported")
        self.calls["energy"] += 1
        # 5,000,000 mJ when the level starts, 5,123,456 mJ when it ends: 123.456 J in between
        return 5_000_000 if self.calls["energy"] == 1 else 5_123_456

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        self.calls["power"] += 1
        if self.calls["power"] >= 20:
            self.sampled.set()
        return 350_000 if handle == 0 else 300_000  # mW

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> _Utilization:
        return _Utilization(gpu=97 if handle == 0 else 40, memory=60)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> _Memory:
        return _Memory(total=80 * 2**30, used=(70 if handle == 0 else 10) * 2**30, free=0)

    def nvmlDeviceGetClockInfo(self, handle: int, kind: int) -> int:
        assert kind == self.NVML_CLOCK_SM
        if handle == 1:
            raise NotSupported("Not Supported")
        return 1980


def _by(metrics: list[Metric]) -> dict[tuple[str, str | None, str | None], float | None]:
    return {(m.name, m.labels.get("gpu"), m.labels.get("stat")): m.value for m in metrics}


def test_a_level_gets_each_gpus_readings_its_energy_and_the_energy_per_token():
    nvml = ReplayedNvml()
    with GpuTelemetry(nvml=nvml, interval_s=0.005) as gpu:
        assert nvml.sampled.wait(10)
    assert nvml.shut and gpu.unavailable is None
    got = _by(gpu.metrics({"concurrency": "8"}, output_tokens=1000))
    assert got[("gpu_power", "0", "mean")] == got[("gpu_power", "0", "max")] == 350.0
    assert got[("gpu_utilization", "1", "mean")] == 40.0 and got[("gpu_memory_used", "0", "max")] == 70 * 1024
    assert got[("gpu_sm_clock", "0", "mean")] == 1980.0 and ("gpu_sm_clock", "1", "mean") not in got
    # GPU 0 from its energy counter; GPU 1 has none, so its power is integrated over the samples' times.
    assert got[("gpu_energy", "0", None)] == pytest.approx(123.456)
    samples = gpu.samples[1]
    integrated = 300.0 * (samples[-1].at - samples[0].at)
    assert got[("gpu_energy", "1", None)] == pytest.approx(integrated) and integrated > 0
    total = 123.456 + integrated
    assert got[("energy", None, None)] == pytest.approx(total)
    assert got[("joules_per_output_token", None, None)] == pytest.approx(total / 1000)
    assert got[("output_tokens_per_watt", None, None)] == pytest.approx(1000 / total)


def test_each_gpu_sample_is_a_telemetry_row_of_its_level():
    nvml = ReplayedNvml()
    with GpuTelemetry(nvml=nvml, interval_s=0.005) as gpu:
        assert nvml.sampled.wait(10)
    rows = telemetry.gpu_rows(gpu, {"concurrency": 8, "run": 0})
    assert len(rows) == len(gpu.samples[0]) + len(gpu.samples[1])
    first = rows[0]
    assert (first["series"], first["gpu"], first["concurrency"], first["power_w"]) == ("gpu", 0, 8, 350.0)
    assert rows[-1]["gpu"] == 1 and rows[-1]["sm_clock_mhz"] is None  # GPU 1 reports no SM clock
    lines = telemetry.end_to_end(rows, "gpu")
    assert [v for _, v in lines["power_w gpu 1"]] == [300.0] * len(gpu.samples[1])
    assert "sm_clock_mhz gpu 1" not in lines


def test_no_gpu_gives_no_figures_and_says_why():
    with GpuTelemetry(interval_s=0.01) as gpu:  # the real pynvml: this machine has no NVIDIA driver
        pass
    assert gpu.unavailable is not None and gpu.metrics({}, output_tokens=100) == []


def test_kitt_compare_weighs_energy_per_token_lower_and_tokens_per_watt_higher():
    def doc(run_id: str, joules: float) -> ResultDocument:
        base = factories.document(run_id)
        bench = msgspec.structs.replace(
            base.benchmarks[0],
            metrics=(
                Metric(
                    name="joules_per_output_token", value=joules, unit="J/tok", labels={"concurrency": "8"}
                ),
                Metric(
                    name="output_tokens_per_watt",
                    value=1 / joules,
                    unit="tok/s/W",
                    labels={"concurrency": "8"},
                ),
            ),
        )
        return msgspec.structs.replace(base, benchmarks=(bench,))

    result = compare.compare([doc("run-a", 0.5), doc("run-b", 0.4)])
    verdicts = {row.metric: row.verdicts[1] for row in result.rows}
    assert verdicts == {"joules_per_output_token": "better", "output_tokens_per_watt": "better"}
    assert result.verdicts[1] == "improvement"
