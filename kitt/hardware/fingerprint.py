"""Detect the machine: CPU, RAM, GPUs, storage, OS, and what kind of environment it is."""

import hashlib
import os
import platform
import shutil
import socket
from pathlib import Path

import msgspec

from kitt.events.results import Hardware
from kitt.hardware import gpus as gpu_probe


class Details(msgspec.Struct, frozen=True, kw_only=True):
    """What `kitt fingerprint` shows: the Hardware recorded with runs, plus the rest of the picture."""

    hardware: Hardware
    kernel: str
    python: str
    cuda: str | None
    driver: str | None
    environment: str  # dgx_spark | dgx | jetson | wsl | container | vm | bare_metal
    storage_total_gib: float | None
    storage_free_gib: float | None
    gpu_status: str  # "ok" or why no GPU was seen


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def _ram_mib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}"


def environment(gpu_names: list[str], arch: str) -> str:
    if any("GB10" in name for name in gpu_names) or (Path("/etc/dgx-release").exists() and arch == "aarch64"):
        return "dgx_spark"
    if Path("/etc/dgx-release").exists():
        return "dgx"
    if Path("/etc/nv_tegra_release").exists():
        return "jetson"
    if "microsoft" in platform.release().lower():
        return "wsl"
    if Path("/.dockerenv").exists() or Path("/run/.containerenv").exists():
        return "container"
    try:
        if "hypervisor" in Path("/proc/cpuinfo").read_text():
            return "vm"
    except OSError:
        pass
    return "bare_metal"


def detect(storage_path: Path | None = None) -> Details:
    arch = platform.machine()
    inventory = gpu_probe.inventory()
    names = [g.name for g in inventory.gpus]
    env = environment(names, arch)
    # Unified memory: Grace-Blackwell/Jetson boards share system RAM with the GPU.
    unified = env in ("dgx_spark", "jetson")
    base = dict(
        hostname=socket.gethostname(),
        os=_os_name(),
        arch=arch,
        cpu_model=_cpu_model(),
        cpu_cores=os.cpu_count(),
        ram_mib=_ram_mib(),
        unified_memory=unified,
        gpus=inventory.gpus,
    )
    # Same machine, same fingerprint: hash what identifies the hardware, not what changes between runs.
    identity = (
        "|".join(str(base[k]) for k in ("arch", "cpu_model", "cpu_cores", "ram_mib"))
        + "|"
        + "|".join(f"{g.name}:{g.memory_mib}:{g.uuid}" for g in inventory.gpus)
    )
    fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:16]
    total = free = None
    try:
        usage = shutil.disk_usage(storage_path or Path.home())
        total, free = round(usage.total / 2**30, 1), round(usage.free / 2**30, 1)
    except OSError:
        pass
    return Details(
        hardware=msgspec.convert({**base, "fingerprint": fingerprint}, Hardware),
        kernel=platform.release(),
        python=platform.python_version(),
        cuda=inventory.cuda,
        driver=inventory.driver,
        environment=env,
        storage_total_gib=total,
        storage_free_gib=free,
        gpu_status="ok" if inventory.gpus else (inventory.unavailable or "no NVIDIA GPU found"),
    )


def compute_capability(hardware: Hardware) -> float | None:
    values = [float(g.compute_capability) for g in hardware.gpus if g.compute_capability]
    return max(values) if values else None
