"""How an engine's CPU build is launched where there is no GPU: what vLLM on a CPU needs to be told.

The KV cache is sized from the memory available now (an eighth of it, 1 to 16 GiB: vLLM's CPU build
allocates it whole at start), graphs are not captured (eager mode), nothing is fetched from the Hub, and the
engine's threads are bound to every core but the last, which is left to KITT's client so that the two do
not share a core and the client's self-check measures the engine, not a fight for the CPU. Each setting is
recorded with the run, in its engine arguments; a profile's environment overrides any of them.
"""

import os

import msgspec

KV_SHARE = 8  # an eighth of available memory
KV_MIN_GIB, KV_MAX_GIB = 1, 16
ARGS = ("--enforce-eager",)


class CpuLaunch(msgspec.Struct, frozen=True, kw_only=True):
    env: dict[str, str]
    args: tuple[str, ...]


def available_bytes() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def thread_binding(cores: list[int]) -> str:
    """vLLM's VLLM_CPU_OMP_THREADS_BIND for every core but the last (the client's); all of one core."""
    ordered = sorted(cores)
    engine = ordered[:-1] or ordered
    if engine == list(range(engine[0], engine[-1] + 1)):
        return str(engine[0]) if len(engine) == 1 else f"{engine[0]}-{engine[-1]}"
    return ",".join(str(c) for c in engine)


def settings(*, memory_bytes: int | None = None, cores: list[int] | None = None) -> CpuLaunch:
    free_gib = (available_bytes() if memory_bytes is None else memory_bytes) // 1024**3
    kv_gib = max(KV_MIN_GIB, min(KV_MAX_GIB, free_gib // KV_SHARE))
    usable = sorted(os.sched_getaffinity(0)) if cores is None else cores
    env = {
        "VLLM_CPU_KVCACHE_SPACE": str(kv_gib),
        "VLLM_CPU_OMP_THREADS_BIND": thread_binding(usable),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    return CpuLaunch(env=env, args=ARGS)
