"""The hardware fingerprint and GPU memory sampling on this machine (which has no GPU)."""

import pytest

from kitt.events.results import Gpu, Hardware
from kitt.hardware import fingerprint, gpus
from kitt.hardware.memory import MemorySampler
from tests.waiting import until


def test_the_fingerprint_is_stable_and_complete(tmp_path):
    first, second = fingerprint.detect(tmp_path), fingerprint.detect(tmp_path)
    assert first.hardware.fingerprint == second.hardware.fingerprint
    hw = first.hardware
    assert hw.arch and hw.cpu_cores and hw.ram_mib and hw.ram_mib > 0 and hw.os and hw.hostname
    assert first.kernel and first.python and first.storage_total_gib and first.storage_total_gib > 0
    assert first.environment in ("dgx_spark", "dgx", "jetson", "wsl", "container", "vm", "bare_metal")


def test_no_gpu_is_reported_with_the_reason():
    inventory = gpus.inventory()
    assert inventory.gpus == () and inventory.unavailable  # e.g. "NVML unavailable: Driver Not Loaded"
    assert fingerprint.detect().gpu_status == inventory.unavailable


def test_memory_without_a_gpu_is_unavailable_not_zero():
    with MemorySampler() as sampler:
        pass
    [metric] = sampler.metrics({"concurrency": "1"})
    assert metric.value is None and metric.labels["unavailable"] and metric.labels["concurrency"] == "1"


def test_unified_memory_boards_sample_system_ram():
    with MemorySampler(unified=True, interval_s=0.01) as sampler:
        until(lambda: len(sampler.samples.get("unified", [])) >= 3, 10, 0.01, what="three samples of RAM")
    metrics = {m.name: m for m in sampler.metrics({})}
    assert metrics["gpu_memory_peak"].value > 0 and metrics["gpu_memory_peak"].labels["gpu"] == "unified"
    assert metrics["gpu_memory_steady"].value <= metrics["gpu_memory_peak"].value


@pytest.mark.parametrize(
    ("names", "arch", "expected"),
    [(["NVIDIA GB10"], "aarch64", "dgx_spark"), (["NVIDIA H100 80GB HBM3"], "x86_64", None)],
)
def test_environment_detection(names, arch, expected):
    env = fingerprint.environment(names, arch)
    assert env == expected if expected else env != "dgx_spark"


def test_compute_capability_is_the_highest_gpu():
    hw = Hardware(
        fingerprint="x",
        gpus=(
            Gpu(index=0, name="a", compute_capability="8.0"),
            Gpu(index=1, name="b", compute_capability="12.1"),
        ),
    )
    assert fingerprint.compute_capability(hw) == 12.1
    assert fingerprint.compute_capability(Hardware(fingerprint="x")) is None
