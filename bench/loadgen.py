"""KITT's load generator against a stub with known timing, next to guidellm and a minimal raw-socket client.

The stub (kitt.bench.stubserver, its own process) streams 100 tokens per request on an absolute 10 ms
tick and records the truth: when each request arrived and when each token was written. At each
concurrency both clients run the same number of requests; the table shows what each measured against
that truth, its achieved request rate, and its own CPU (share of one core).

guidellm runs from its own virtual environment (it pulls torch and transformers):
    python3 -m venv /tmp/gl && /tmp/gl/bin/pip install guidellm
    python bench/loadgen.py --guidellm /tmp/gl/bin/guidellm [--concurrency 256 512 1024] [--rounds 4]

The soak (`--soak 600 --soak-rate 500`) runs `kitt run` itself against the stub for that long at that
Poisson rate, samples the peak RSS of its process tree (KITT's processes and, apart, the embedded
nats-server), and counts the records KARR and the export hold afterwards.
"""

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import refclient, soak
from kitt.bench import loadgen, metrics
from kitt.children import free_port
from kitt.engines import dialects, httpconn
from tests.waiting import port_open, until

TOKENS = 100
# A byte-level tokenizer with no merges: any text encodes (one token per byte), so guidellm's synthetic
# prompts (Faker text) are never empty, and it needs no download.
_TOKENIZER = """
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
import sys
alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
PreTrainedTokenizerFast(tokenizer_object=tok).save_pretrained(sys.argv[1])
"""


async def _truth(port: int, reset: bool = False) -> dict[str, float]:
    response = await httpconn.fetch("127.0.0.1", port, "GET", "/reset" if reset else "/truth")
    return json.loads(response.body())


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run_kitt(port: int, concurrency: int, requests: int) -> dict[str, float]:
    await _truth(port, reset=True)
    body = dialects.OpenAI().body(
        dialects.GenRequest(model="stub", prompt="the of and to", max_tokens=TOKENS)
    )
    plan = loadgen.LoadPlan(
        host="127.0.0.1",
        port=port,
        dialect="openai",
        path="/v1/completions",
        bodies=(body,),
        concurrency=concurrency,
        max_requests=requests,
    )
    workers = loadgen.default_workers(concurrency)
    cpu0, wall0 = time.process_time() + _cpu_children(), time.perf_counter()
    result = await loadgen.run(plan, workers=workers)
    cpu = time.process_time() + _cpu_children() - cpu0
    wall = time.perf_counter() - wall0
    got = {
        (m.name, m.percentile): m.value
        for m in metrics.serving_metrics(result.columns, concurrency=concurrency, slo=None, labels={})
    }
    health = metrics.client_health(result.workers, {})
    truth = await _truth(port)
    return {
        "req/s": got[("request_throughput", None)],
        "ttft p50": got[("ttft", "p50")],
        "ttft p99": got[("ttft", "p99")],
        "itl p50": got[("itl", "p50")],
        "itl p99": got[("itl", "p99")],
        "true ttft p50": truth["ttft_p50_ms"],
        "true ttft p99": truth["ttft_p99_ms"],
        "true itl p50": truth["itl_p50_ms"],
        "true itl p99": truth["itl_p99_ms"],
        "cpu": cpu / wall,
        "cpu us/req": cpu / max(got[("completed", None)], 1) * 1e6,
        # the workers' own CPU while the level ran: what decides whether they saturate (no process
        # startup, no figures computed afterwards)
        "level cpu us/req": sum(w.cpu_s for w in result.workers) / max(got[("completed", None)], 1) * 1e6,
        "failed": got[("failed", None)],
        "valid": float(health.valid),
    }


async def run_guidellm(
    exe: str, tokenizer: Path, port: int, concurrency: int, requests: int
) -> dict[str, float]:
    await _truth(port, reset=True)
    out = Path(tempfile.mkdtemp()) / "g.json"
    cmd = [
        exe,
        "run",
        "--backend",
        f"kind=openai_http,target=http://127.0.0.1:{port},request_format=/v1/completions",
        "--profile",
        f"kind=concurrent,streams={concurrency}",
        "--constraint",
        f"kind=max_requests,count={requests}",
        "--tokenizer",
        f"kind=hf_auto,model={tokenizer}",
        "--data",
        f"kind=synthetic_text,prompt_tokens=32,output_tokens={TOKENS}",
        "--output",
        f"kind=json,path={out}",
        "--disable-console",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cpu0, wall0 = _cpu_children(), time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, err = await proc.communicate()
    cpu, wall = _cpu_children() - cpu0, time.perf_counter() - wall0
    if proc.returncode != 0:
        raise RuntimeError(f"guidellm failed: {err.decode()[-800:]}")
    bench = json.loads(out.read_text())["benchmarks"][0]
    m = bench["metrics"]

    def pct(name: str, p: str) -> float:
        return m[name]["successful"]["percentiles"][p]

    truth = await _truth(port)
    return {
        "req/s": m["requests_per_second"]["successful"]["mean"],
        "ttft p50": pct("time_to_first_token_ms", "p50"),
        "ttft p99": pct("time_to_first_token_ms", "p99"),
        "itl p50": pct("inter_token_latency_ms", "p50"),
        "itl p99": pct("inter_token_latency_ms", "p99"),
        "true ttft p50": truth["ttft_p50_ms"],
        "true ttft p99": truth["ttft_p99_ms"],
        "true itl p50": truth["itl_p50_ms"],
        "true itl p99": truth["itl_p99_ms"],
        # guidellm's process tree (including its startup) over its wall time, for scale only
        "cpu": cpu / wall,
        "cpu us/req": cpu / max(requests, 1) * 1e6,  # its startup included
        "failed": float(m["request_totals"]["errored"]),
        "valid": float("nan"),
    }


async def run_reference(port: int, concurrency: int, requests: int) -> dict[str, float]:
    await _truth(port, reset=True)
    body = dialects.OpenAI().body(
        dialects.GenRequest(model="stub", prompt="the of and to", max_tokens=TOKENS)
    )
    got = await refclient.run("127.0.0.1", port, body, concurrency=concurrency, requests=requests)
    truth = await _truth(port)
    return {
        **got,
        "true ttft p50": truth["ttft_p50_ms"],
        "true ttft p99": truth["ttft_p99_ms"],
        "true itl p50": truth["itl_p50_ms"],
        "true itl p99": truth["itl_p99_ms"],
        "valid": float("nan"),
    }


def decode_cost(iterations: int, repeats: int) -> None:
    """What decoding one finished 100-token stream costs the worker, in its two paths: the one-pass decode
    (kitt.engines.openai_stream) and event by event (medians of `repeats` timings)."""
    event = (
        b'data: {"id":"cmpl-stub","object":"text_completion",'
        b'"choices":[{"index":0,"text":" tok","finish_reason":null}]}\n\n'
    )
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":100}}\n\n'
    pieces = [(float(i), event) for i in range(TOKENS)] + [(100.0, usage), (100.0, b"data: [DONE]\n\n")]
    response = httpconn.Response(status=200, headers={}, sent_at=0.0, pieces=pieces, ended_at=101.0)
    dialect = dialects.OpenAI()
    figures = {}
    for name, decode in (("one pass", dialects.decode_stream), ("event by event", dialects.decode_events)):
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(iterations):
                decode(dialect, response)
            runs.append((time.perf_counter() - started) / iterations * 1e6)
        figures[name] = statistics.median(runs)
    print(
        f"decode of a finished {TOKENS}-token stream: one pass {figures['one pass']:.1f} µs, "
        f"event by event {figures['event by event']:.1f} µs",
        flush=True,
    )


def _median(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def _print(label: str, c: int, r: dict[str, float]) -> None:
    print(
        f"{label:10} c={c:<4} {r['req/s']:7.1f} req/s"
        f" | TTFT p50 {r['ttft p50']:7.2f} (true {r['true ttft p50']:6.2f})"
        f" p99 {r['ttft p99']:7.2f} (true {r['true ttft p99']:6.2f}) | ITL p50 {r['itl p50']:6.2f}"
        f" (true {r['true itl p50']:6.2f}) p99 {r['itl p99']:6.2f} (true {r['true itl p99']:6.2f})"
        f" | client CPU {r['cpu']:.2f} core, {r['cpu us/req']:.0f} µs/request | failed {r['failed']:.0f}"
        + ("" if "level cpu us/req" not in r else f" ({r['level cpu us/req']:.0f} in the level)")
        + ("" if r["valid"] != r["valid"] else f" | {'valid' if r['valid'] else 'INVALID'}"),
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--rounds", type=int, default=4, help="requests per slot at each concurrency")
    parser.add_argument("--repeat", type=int, default=1, help="runs per point; the median is printed")
    parser.add_argument("--guidellm", default=shutil.which("guidellm"), help="guidellm executable")
    parser.add_argument("--soak", type=float, default=0.0, help="also: kitt run for this many seconds")
    parser.add_argument("--soak-rate", type=float, default=500.0, help="the soak's request rate")
    parser.add_argument("--soak-cap", type=int, nargs="*", default=[], help="soak once per max_requests")
    parser.add_argument("--soak-only", action="store_true", help="skip the comparison, run the soak")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (tests/test_bench.py)")
    args = parser.parse_args()
    if args.smoke:
        args.concurrency, args.rounds, args.repeat, args.guidellm = [8], 2, 1, None
        args.soak, args.soak_rate = 2.0, 20.0
    port = free_port()
    stub = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kitt.bench.stubserver", "--port", str(port), "--tick-ms", "10"
    )
    tokenizer = Path(tempfile.mkdtemp()) / "tokenizer"
    try:
        await asyncio.to_thread(until, lambda: port_open(port), 30, what="the stub listening")
        if args.guidellm:
            python = str(Path(args.guidellm).with_name("python"))
            await asyncio.to_thread(subprocess.run, [python, "-c", _TOKENIZER, str(tokenizer)], check=True)
        else:
            print("guidellm not found (--guidellm PATH): printing KITT only")
        if not args.soak_only:
            decode_cost(200 if args.smoke else 2000, 3 if args.smoke else 7)
        for c in [] if args.soak_only else args.concurrency:
            n = max(c * args.rounds, 20)
            kitt_rows = [await run_kitt(port, c, n) for _ in range(args.repeat)]
            _print("kitt", c, _median(kitt_rows))
            ref_rows = [await run_reference(port, c, n) for _ in range(args.repeat)]
            _print("raw-socket", c, _median(ref_rows))
            ours, ref = _median(kitt_rows), _median(ref_rows)
            ratio, in_level = (
                ours["cpu us/req"] / ref["cpu us/req"],
                ours["level cpu us/req"] / ref["cpu us/req"],
            )
            print(
                f"{'':10} c={c:<4} KITT's CPU per request: {ratio:.2f}x the raw-socket client's "
                f"(its workers during the level: {in_level:.2f}x)"
            )
            if args.guidellm:
                peer = [await run_guidellm(args.guidellm, tokenizer, port, c, n) for _ in range(args.repeat)]
                _print("guidellm", c, _median(peer))
        if args.soak:
            for cap in args.soak_cap or [None]:
                await soak.run(port, seconds=args.soak, rate=args.soak_rate, cap=cap)
    finally:
        stub.terminate()
        await stub.wait()


if __name__ == "__main__":
    asyncio.run(main())
