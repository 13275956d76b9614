"""GPUs through NVML (nvidia-ml-py). No driver or no GPU is an answer, not an error."""

import contextlib

import msgspec

from kitt.events.results import Gpu


class GpuInventory(msgspec.Struct, frozen=True, kw_only=True):
    gpus: tuple[Gpu, ...] = ()
    driver: str | None = None
    cuda: str | None = None
    unavailable: str | None = None  # why NVML gave nothing, when it did


def inventory() -> GpuInventory:
    try:
        import pynvml
    except ImportError:
        return GpuInventory(unavailable="nvidia-ml-py is not installed")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return GpuInventory(unavailable=f"NVML unavailable: {exc}")
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda = None
        with contextlib.suppress(pynvml.NVMLError):
            raw = pynvml.nvmlSystemGetCudaDriverVersion_v2()
            cuda = f"{raw // 1000}.{raw % 1000 // 10}"
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = None
            with contextlib.suppress(pynvml.NVMLError):
                memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total // (1024 * 1024)
            cc = None
            with contextlib.suppress(pynvml.NVMLError):
                major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
                cc = f"{major}.{minor}"
            gpus.append(
                Gpu(
                    index=index,
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    memory_mib=memory,
                    compute_capability=cc,
                    driver=driver,
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                )
            )
        return GpuInventory(gpus=tuple(gpus), driver=driver, cuda=cuda)
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
