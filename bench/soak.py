"""The soak: `kitt run` for minutes at hundreds of requests per second, its memory, its records counted.

`kitt run` is started as a user starts it (its own KITT_HOME, the embedded nats-server and SQLite) against
the stub; its process tree's RSS is sampled every second and printed as a curve (every 10 s), with the
peak and, past a minute, the growth after the first minute. `cap` sets the level's max_requests (none:
the duration alone bounds it), so runs that differ only in the cap show whether memory follows it.
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
    max_requests: {cap}
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


def _curve(samples: list[tuple[float, int]], seconds: float) -> str:
    every = 10 if seconds >= 30 else 1
    shown = [(t, rss) for t, rss in samples if int(t) % every == 0]
    return ", ".join(f"{t:.0f}: {rss / 2**20:.0f}" for t, rss in shown)


def _growth(samples: list[tuple[float, int]]) -> str | None:
    """The growth of KITT's RSS after the first minute: the last minute's peak against the first's end."""
    at_minute = [rss for t, rss in samples if t <= 60]
    later = [rss for t, rss in samples if t > 60]
    if not at_minute or not later:
        return None
    base, peak = at_minute[-1], max(later)
    share = (peak - base) / base * 100
    return f"{share:+.1f} % ({base / 2**20:.0f} MiB at 60 s, peak after it {peak / 2**20:.0f} MiB)"


async def run(port: int, *, seconds: float, rate: float, cap: int | None = None) -> None:
    home = Path(tempfile.mkdtemp(prefix="kitt-soak-"))
    suite = home / "soak.yaml"
    suite.write_text(SUITE.format(rate=rate, seconds=seconds, cap="null" if cap is None else cap))
    command = [KITT, "run", "-m", "stub", "-e", "vllm", "--runtime", "external"]
    command += ["--endpoint", f"http://127.0.0.1:{port}", "-s", str(suite), "--json"]
    capped = "no request cap" if cap is None else f"max_requests {cap:,}"
    print(f"soak: kitt run at {rate:g} req/s for {seconds:g} s ({capped}) ...", flush=True)
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *command,
        env={**os.environ, "KITT_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    waited = asyncio.ensure_future(proc.communicate())
    peak_kitt = peak_nats = 0
    curve: list[tuple[float, int]] = []
    while not waited.done():
        kitt, nats = _tree_rss(proc.pid)
        peak_kitt, peak_nats = max(peak_kitt, kitt), max(peak_nats, nats)
        curve.append((time.monotonic() - started, kitt))
        await asyncio.wait({waited}, timeout=1.0)
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
    print(f"soak: RSS of kitt run's processes (s: MiB): {_curve(curve, seconds)}")
    if (growth := _growth(curve)) is not None:
        print(f"soak: growth after the first minute: {growth}")
