"""The soak: `kitt run` for minutes at hundreds of requests per second, its peak memory, its records counted.

`kitt run` is started as a user starts it (its own KITT_HOME, the embedded nats-server and SQLite) against
the stub; its process tree's RSS is sampled every half second.
"""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KITT = str(Path(sys.executable).with_name("kitt"))
SUITE = """
name: soak
tests:
  - kind: performance
    name: soak
    rate: [{rate}]
    arrival: poisson
    max_requests: null
    max_duration_s: {seconds}
    warmup_requests: 0
    input_tokens: 16
sampling: {{max_tokens: 16}}
"""


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _tree_rss(root: int) -> tuple[int, int]:
    """(KITT's processes, nats-server) resident memory in bytes."""
    kitt = nats = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        stack += _children(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        rss = next(
            (int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
        if name.startswith("nats-server"):
            nats += rss
        else:
            kitt += rss
    return kitt, nats


def _kitt(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KITT_HOME": str(home)}
    return subprocess.run([KITT, *args], env=env, capture_output=True, text=True, timeout=timeout)


async def run(port: int, *, seconds: float, rate: float) -> None:
    home = Path(tempfile.mkdtemp(prefix="kitt-soak-"))
    suite = home / "soak.yaml"
    suite.write_text(SUITE.format(rate=rate, seconds=seconds))
    command = [KITT, "run", "-m", "stub", "-e", "vllm", "--runtime", "external"]
    command += ["--endpoint", f"http://127.0.0.1:{port}", "-s", str(suite), "--json"]
    print(f"soak: kitt run at {rate:g} req/s for {seconds:g} s ...", flush=True)
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *command,
        env={**os.environ, "KITT_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    waited = asyncio.ensure_future(proc.communicate())
    peak_kitt = peak_nats = 0
    while not waited.done():
        kitt, nats = _tree_rss(proc.pid)
        peak_kitt, peak_nats = max(peak_kitt, kitt), max(peak_nats, nats)
        await asyncio.wait({waited}, timeout=0.5)
    raw_out, raw_err = waited.result()
    out, err = raw_out.decode(), raw_err.decode()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        print(f"soak: kitt run failed ({proc.returncode}): {err[-1500:]}")
        return
    outcome = json.loads(out)
    run_id = outcome["run_id"]
    metrics = {(m["name"], m.get("percentile")): m["value"] for m in outcome["benchmarks"][0]["metrics"]}
    exported = await asyncio.to_thread(_kitt, home, "storage", "export", run_id)
    [doc] = json.loads(exported.stdout)
    samples = doc["benchmarks"][0]["samples"]
    indices = {s["index"] for s in samples}
    counted = outcome["benchmarks"][0]["records"]["count"]
    print(
        f"soak: {outcome['status']} in {wall:.0f} s; completed {metrics[('completed', None)]:.0f}, "
        f"failed {metrics[('failed', None)]:.0f}; "
        f"request rate {metrics[('request_throughput', None)]:.1f} req/s; "
        f"TTFT p50 {metrics[('ttft', 'p50')]:.2f} ms p99 {metrics[('ttft', 'p99')]:.2f} ms"
    )
    print(
        f"soak: records: {counted} in the result's reference, {len(samples)} in the export "
        f"({len(indices)} distinct); events stayed small: the benchmark's event holds no records"
    )
    print(
        f"soak: peak RSS: kitt run's processes {peak_kitt / 2**20:.0f} MiB, "
        f"embedded nats-server {peak_nats / 2**20:.0f} MiB"
    )
