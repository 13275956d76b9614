"""KITT's quality path next to a direct `lm_eval.simple_evaluate` call, on the same endpoint and data.

The endpoint is `kitt.bench.quality.scoringserver` (its own process: a server written to vLLM's scoring
contract, fast and deterministic). Each round runs, in alternation:
- KITT: `runner.run_test` as the executor calls it (probe, converted data, task files, the worker
  subprocess, results mapped to metrics), timed from the call to the result;
- direct: a fresh `python -c` that imports lm-eval and calls `simple_evaluate` with the same model arguments
  on the same task files, timed from spawn to exit.
Both pay an interpreter start and lm-eval's import. Peak memory is the evaluating process's max RSS (KITT's
worker; the direct process). Scores must be identical; the overhead target is ≤ 10 % of the direct run.

    python bench/quality.py [--rounds 3] [--concurrency 8]
"""

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lm_eval.tasks

from kitt.bench.quality import catalog, datasets, runner, taskfiles
from kitt.bench.quality.worker import OFFLINE_ENV, model_args
from kitt.bench.suites import QualityTest
from kitt.children import free_port
from kitt.engines.runtime import Endpoint
from kitt.engines.specs import get as get_spec
from tests.waiting import port_open, until

SOURCE = Path(__file__).resolve().parent.parent / "datasets"
CASES = (("gsm8k", "generative", 200), ("mmlu", "loglikelihood", 5))
_DIRECT = """
import json, resource, sys
import lm_eval
from lm_eval.tasks import TaskManager
spec = json.loads(sys.argv[1])
out = lm_eval.simple_evaluate(model="local-completions", model_args=spec["args"], tasks=spec["tasks"],
    limit=spec["limit"], batch_size=1, log_samples=True, random_seed=1234, numpy_random_seed=1234,
    torch_random_seed=1234, fewshot_random_seed=1234,
    task_manager=TaskManager(include_path=spec["include"], include_defaults=False))
num = lambda v: float(v) if isinstance(v, (int, float)) else None
scores = {t: {k: num(v) for k, v in r.items() if "," in k} for t, r in out["results"].items()}
print(json.dumps({"scores": scores, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _children_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


async def _kitt(endpoint: Endpoint, case: tuple[str, str, int], home: Path, concurrency: int) -> dict:
    benchmark, mode, limit = case
    test = QualityTest(name=benchmark, benchmark=benchmark, mode=mode, limit=limit, concurrency=concurrency)
    started = time.perf_counter()
    result = await runner.run_test(test, endpoint, runner.Context(home, datasets_dir=str(SOURCE)))
    wall = time.perf_counter() - started
    if result.status != "succeeded":
        raise SystemExit(f"KITT {benchmark}: {result.error}")
    scores: dict[str, dict[str, float | None]] = {}
    for m in result.metrics:
        if m.name not in ("score", "score_stderr"):
            scores.setdefault(m.labels["task"], {})[f"{m.name},{m.labels['filter']}"] = m.value
    return {"wall_s": wall, "scores": scores}


def _direct(endpoint: Endpoint, case: tuple[str, str, int], work: Path, concurrency: int) -> dict:
    benchmark, mode, limit = case
    converted = datasets.prepare(benchmark, SOURCE, work / "data")
    subjects = sorted({k.split("/")[0] for k in converted.files}) if benchmark == "mmlu" else []
    variant = catalog.variant(benchmark, mode, subjects)
    folder = taskfiles.write(
        variant, converted.files, Path(lm_eval.tasks.__file__).parent, work / f"tasks-{benchmark}"
    )
    test = QualityTest(name=benchmark, benchmark=benchmark, concurrency=concurrency)
    job = runner._base_job(test, endpoint, mode, work, variant.run)
    spec = {"args": model_args(job), "tasks": list(variant.run), "limit": limit, "include": str(folder)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _DIRECT, json.dumps(spec)],
        capture_output=True,
        text=True,
        env={**OFFLINE_ENV, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    wall = time.perf_counter() - started
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "scores": report["scores"], "rss_mib": report["rss_mib"]}


def _kitt_in_fresh_process(port: int, case: tuple[str, str, int], home: Path, concurrency: int) -> dict:
    """KITT's run in its own process, so the worker's peak RSS is this round's alone."""
    args = [sys.executable, __file__, "--one", json.dumps([port, *case, str(home), concurrency])]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _one(spec: str) -> None:
    port, benchmark, mode, limit, home, concurrency = json.loads(spec)
    endpoint = Endpoint(host="127.0.0.1", port=port, model="stub", spec=get_spec("vllm"))
    report = asyncio.run(_kitt(endpoint, (benchmark, mode, limit), Path(home), concurrency))
    report["rss_mib"] = _children_rss_mib()
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (tests/test_bench.py)")
    args = parser.parse_args()
    cases = CASES
    if args.smoke:
        args.rounds, cases = 1, tuple((benchmark, mode, 2) for benchmark, mode, _ in CASES)
    if args.one:
        return _one(args.one)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "kitt.bench.quality.scoringserver", "--port", str(port)])
    until(lambda: port_open(port), 60, what="the scoring server listening")
    endpoint = Endpoint(host="127.0.0.1", port=port, model="stub", spec=get_spec("vllm"))
    try:
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            for case in cases:
                kitt_runs, direct_runs = [], []
                for _ in range(args.rounds):
                    kitt_runs.append(_kitt_in_fresh_process(port, case, work / "home", args.concurrency))
                    direct_runs.append(_direct(endpoint, case, work, args.concurrency))
                _report(case, kitt_runs, direct_runs)
    finally:
        server.terminate()
        server.wait(10)


def _report(case: tuple[str, str, int], kitt_runs: list[dict], direct_runs: list[dict]) -> None:
    benchmark, mode, limit = case
    same = all(k["scores"] == direct_runs[0]["scores"] for k in kitt_runs) and all(
        d["scores"] == direct_runs[0]["scores"] for d in direct_runs
    )
    k_wall = statistics.median(r["wall_s"] for r in kitt_runs)
    d_wall = statistics.median(r["wall_s"] for r in direct_runs)
    k_rss = statistics.median(r["rss_mib"] for r in kitt_runs)
    d_rss = statistics.median(r["rss_mib"] for r in direct_runs)
    print(
        f"{benchmark} ({mode}, limit {limit}, {len(kitt_runs)} rounds): "
        f"KITT {k_wall:.2f} s / {k_rss:.0f} MiB peak, direct {d_wall:.2f} s / {d_rss:.0f} MiB; "
        f"overhead {100 * (k_wall / d_wall - 1):+.1f} % wall, {100 * (k_rss / d_rss - 1):+.1f} % memory; "
        f"scores identical: {same}"
    )
    if not same:
        print("  KITT:  ", json.dumps(kitt_runs[0]["scores"])[:400])
        print("  direct:", json.dumps(direct_runs[0]["scores"])[:400])


if __name__ == "__main__":
    main()
