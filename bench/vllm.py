"""KITT's client clock against vLLM's own: TTFT and ITL as KITT measures them beside vLLM's histograms.

Starts the real vLLM (the build `kitt engines setup vllm --runtime native` installed; KITT_ENGINES_DIR or
--engines-dir) on the tiny Hugging Face model through KITT's native runtime, and at each concurrency runs
one KITT level (no warm-up, so both sides count the same requests). Before and after each level it reads
vLLM's /metrics, and from the difference of `vllm:time_to_first_token_seconds` and
`vllm:inter_token_latency_seconds` (their sums and counts) takes the server's mean for exactly those
requests: the client's error is KITT's mean minus the server's. (vLLM's buckets are too coarse for a
median: its first ITL bucket is 0-10 ms, where this whole model lives.)

    python bench/vllm.py [--concurrency 1 4 16] [--requests 200] [--engines-dir DIR]
    python bench/vllm.py --endpoint http://HOST:PORT -m SERVED_MODEL_ID   # a vLLM someone else runs
"""

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kitt.bench import performance
from kitt.bench.suites import PerformanceTest, Sampling
from kitt.children import free_port
from kitt.engines import envs, health, httpconn
from kitt.engines.native import NativeRuntime
from kitt.engines.runtime import Endpoint, Launch
from kitt.engines.specs import get as get_spec
from kitt.models import tiny_hf

HISTOGRAMS = {"ttft": "vllm:time_to_first_token_seconds", "itl": "vllm:inter_token_latency_seconds"}
Scrape = dict[str, tuple[float, float]]  # name: (sum, count)


async def scrape(endpoint: Endpoint) -> Scrape:
    response = await httpconn.fetch(endpoint.host, endpoint.port, "GET", "/metrics", timeout=10)
    text = response.body().decode()
    out: Scrape = {}
    for key, name in HISTOGRAMS.items():
        total = count = 0.0
        for line in text.splitlines():
            if line.startswith(f"{name}_sum"):
                total += float(line.rsplit(" ", 1)[1])
            elif line.startswith(f"{name}_count"):
                count += float(line.rsplit(" ", 1)[1])
        out[key] = (total, count)
    return out


def server_mean(before: Scrape, after: Scrape, key: str) -> float:
    """The server's mean (ms) of the observations between two scrapes."""
    (s0, c0), (s1, c1) = before[key], after[key]
    return (s1 - s0) / (c1 - c0) * 1000 if c1 > c0 else float("nan")


def client_figures(result: object, key: str) -> tuple[float, float]:
    metrics = getattr(result, "metrics", ())
    mean = next(m.value for m in metrics if m.name == key and m.labels.get("stat") == "mean")
    median = next(m.value for m in metrics if m.name == key and m.percentile == "p50")
    return float(mean or 0.0), float(median or 0.0)


async def level(endpoint: Endpoint, concurrency: int, requests: int, max_tokens: int) -> dict[str, float]:
    test = msgspec.convert(
        {
            "kind": "performance",
            "name": f"c{concurrency}",
            "concurrency": [concurrency],
            "max_requests": requests,
            "warmup_requests": 0,
            "input_tokens": 64,
        },
        PerformanceTest,
    )
    before = await scrape(endpoint)
    result, _ = await performance.run_test(test, Sampling(max_tokens=max_tokens), endpoint)
    after = await scrape(endpoint)
    row = {"valid": float(result.status == "succeeded")}
    for key in HISTOGRAMS:
        row[f"kitt {key} mean"], row[f"kitt {key} p50"] = client_figures(result, key)
        row[f"vllm {key} mean"] = server_mean(before, after, key)
    return row


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--engines-dir", type=Path, default=None)
    parser.add_argument("--endpoint", default=None, help="measure this vLLM instead of starting one")
    parser.add_argument("-m", "--model", default="tiny-llama", help="with --endpoint: the served model id")
    parser.add_argument("--smoke", action="store_true", help="concurrency 1 and 4, 8 requests each")
    args = parser.parse_args()
    if args.smoke:
        args.concurrency, args.requests = [1, 4], 8
    if args.endpoint:
        url = urlparse(args.endpoint)
        endpoint = Endpoint(
            host=url.hostname or "", port=url.port or 80, model=args.model, spec=get_spec("vllm")
        )
        await report(endpoint, await health.read_version(endpoint), args)
        return
    if args.engines_dir is not None:
        os.environ["KITT_ENGINES_DIR"] = str(args.engines_dir)
    if envs.installed("vllm") is None:
        raise SystemExit("no vLLM environment: run `kitt engines setup vllm --runtime native` first")
    runtime = NativeRuntime()

    async def quiet(_line: str) -> None:
        return None

    with tempfile.TemporaryDirectory() as folder:
        model = tiny_hf.write(Path(folder) / "tiny-llama")
        spec = get_spec("vllm")
        launch = Launch(spec=spec, model_path=str(model), served_name="tiny-llama", port=free_port())
        started = await runtime.start(launch, quiet)
        try:
            await report(started.endpoint, started.version, args)
        finally:
            await runtime.stop()


async def report(endpoint: Endpoint, version: str | None, args: argparse.Namespace) -> None:
    print(f"vLLM {version}; {args.requests} requests a level, {args.max_tokens} tokens each")
    print("level   | TTFT ms: kitt p50, kitt mean / vllm mean (error) | ITL ms: the same")
    for concurrency in args.concurrency:
        r = await level(endpoint, concurrency, args.requests, args.max_tokens)
        cells = [
            f"{key.upper()} {r[f'kitt {key} p50']:.2f}, {r[f'kitt {key} mean']:.2f} / "
            f"{r[f'vllm {key} mean']:.2f} ({r[f'kitt {key} mean'] - r[f'vllm {key} mean']:+.2f})"
            for key in HISTOGRAMS
        ]
        invalid = "" if r["valid"] else "  [KITT's self-check: invalid]"
        print(f"c={concurrency:<5} | {' | '.join(cells)}{invalid}")


if __name__ == "__main__":
    asyncio.run(main())
