"""vLLM for real: `kitt engines setup vllm --runtime native` builds vLLM's CPU build into an environment
of its own, and `kitt run` drives the real vLLM server on the tiny Hugging Face model, into KARR.

The environment is built once per machine through the CLI, as a user would, and reused, keyed by the
pinned recipe (tests/vllmenv.py). Every test here runs on one worker (`xdist_group("vllm")`): a vLLM
server holds a few GB and a core, and one at a time is what this machine has room for.
"""

import asyncio
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kitt import children
from kitt.bench import loadgen
from kitt.bench.enginewatch import EngineWatch
from kitt.children import free_port
from kitt.engines import cpu_launch, envs, specs
from kitt.engines.native import NativeRuntime
from kitt.engines.runtime import Endpoint
from kitt.events.ids import uuid7
from kitt.models import tiny_hf
from kitt.orchestration.executor import Executor, RunRequest
from kitt.orchestration.reporting import CommandReporter
from tests import factories, vllmenv
from tests.factories import measured
from tests.replay import RECORDINGS
from tests.test_cli import kitt
from tests.test_run import LONG_SUITE
from tests.waiting import eventually, until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("vllm")]

RUN_TIMEOUT_S = 170

WORKLOADS_SUITE = """
name: vllm-workloads
tests:
  - kind: performance
    name: latency
    concurrency: [1, 4]
    max_requests: 8
    warmup_requests: 1
    input_tokens: 32
  - kind: performance
    name: prefix
    concurrency: [4]
    max_requests: 8
    input_tokens: 16
    workload: {kind: shared_prefix, groups: 2, prefix_tokens: 64}
  - kind: performance
    name: chat
    max_requests: 6
    workload: {kind: multi_turn, sessions: 2, turns: 3, think_time_s: 0}
sampling: {max_tokens: 16}
"""


@pytest.fixture(scope="session")
def vllm_engines() -> Path:
    """The folder holding the vLLM environment (KITT_ENGINES_DIR), built by the CLI when not there yet
    (normally before the session's tests began: tests/vllmenv.py)."""
    base, failure = vllmenv.ensure()
    assert failure is None, f"`kitt engines setup vllm --runtime native --build cpu` failed: {failure}"
    return base


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory) -> Path:
    return tiny_hf.write(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="module")
def served(vllm_engines, hf_model):
    """One vLLM server (the environment's `vllm serve` on the tiny model, launched with KITT's CPU
    settings) that the tests measuring through `--endpoint` share: each server start is 30 s idle and
    a minute under CI's load. Its URL; the model is served under its path, as vLLM does by default."""
    env = envs.installed("vllm", vllm_engines)
    assert env is not None
    cpu = cpu_launch.settings()
    port = free_port()
    argv = [str(env.executable("vllm")), "serve", str(hf_model), "--port", str(port), "--host", "127.0.0.1"]
    argv += ["--enable-tokenizer-info-endpoint", *cpu.args]
    log = hf_model.parent / "vllm.log"
    with log.open("w") as out:
        server = subprocess.Popen(argv, env={**os.environ, **cpu.env}, stdout=out, stderr=subprocess.STDOUT)
    try:

        def healthy() -> bool:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        until(healthy, 300, 0.5, what="the shared vLLM server's /health")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(30)


def _run(home: Path, engines: Path, model: Path, *args: str) -> dict:
    result = kitt(
        home,
        *("run", "-m", str(model), "-e", "vllm", "--runtime", "native", "--json", *args),
        env={"KITT_ENGINES_DIR": str(engines)},
        timeout=RUN_TIMEOUT_S,
    )
    return json.loads(result.stdout)


def _document(home: Path, run_id: str) -> dict:
    [doc] = json.loads(kitt(home, "storage", "export").stdout)
    assert doc["run_id"] == run_id
    return doc


def test_vllm_is_installed_apart_from_kitt_and_listed(vllm_engines, tmp_path):
    env = envs.installed("vllm", vllm_engines)
    assert env is not None and env.flavour == "cpu"
    assert env.versions["vllm"] == "0.32.0+cpu" and env.versions["torch"].startswith("2.13.0")
    assert importlib.util.find_spec("vllm") is None  # KITT's own environment never has it
    listed = kitt(tmp_path, "engines", "list", "--json", env={"KITT_ENGINES_DIR": str(vllm_engines)})
    [row] = [r for r in json.loads(listed.stdout) if r["engine"] == "vllm"]
    assert row["native_binary"] == str(vllm_engines / "vllm" / "bin" / "vllm")
    assert row["native_env"] == env.describe()


def test_workloads_on_the_real_vllm_land_in_karr(vllm_engines, hf_model, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(WORKLOADS_SUITE)
    home = tmp_path / "home"
    outcome = _run(home, vllm_engines, hf_model, "-s", str(suite))
    assert outcome["status"] == "succeeded", outcome
    doc = _document(home, outcome["run_id"])
    info = doc["info"]
    assert info["engine"] == "vllm" and info["runtime"] == "native"
    version = info["engine_version"]
    assert version.startswith("0.32.0 (cpu build: ") and "vllm 0.32.0+cpu" in version
    args = info["engine_args"]
    # The CPU settings are recorded with the run: the cores vLLM was bound to, its KV cache, eager mode.
    assert any(a.startswith("VLLM_CPU_OMP_THREADS_BIND=") for a in args)
    assert any(a.startswith("VLLM_CPU_KVCACHE_SPACE=") for a in args)
    assert {"--enforce-eager", "--enable-tokenizer-info-endpoint", "tiny-llama"} <= set(args)
    by_name = {b["name"]: b for b in doc["benchmarks"]}
    assert {"latency", "prefix", "chat", "warmup"} <= set(by_name)
    for name in ("latency", "prefix", "chat"):
        bench = by_name[name]
        assert measured(bench["status"], bench.get("error")), (name, bench.get("error"))
        ttft = [m for m in bench["metrics"] if m["name"] == "ttft" and m["percentile"] == "p50"]
        assert ttft and all(m["value"] > 0 for m in ttft), name
    # input_tokens are the served model's tokens: sized by vLLM's /tokenize, taken whole by the engine.
    latency = by_name["latency"]
    assert latency["settings"]["input_sizing"] == "tokens, by the engine's tokenizer (/tokenize)"
    taken = {m["labels"]["stat"]: m["value"] for m in latency["metrics"] if m["name"] == "prompt_tokens"}
    assert taken == {"mean": 32, "min": 32, "max": 32}
    # vLLM's own metrics, scraped during each level under KITT's names: it saw the requests it ran.
    engine = {
        (m["name"], m["labels"]["stat"]): m["value"] for m in latency["metrics"] if "stat" in m["labels"]
    }
    # (A gauge sampled once a second may miss a short level's requests; a counter cannot.)
    assert engine[("engine_generation_tokens", "max")] > 0 and ("engine_requests_running", "max") in engine
    assert ("engine_kv_cache_usage", "max") in engine and ("engine_prompt_tokens", "mean") in engine
    assert latency["settings"]["warnings"] is None or "engine metrics" not in latency["settings"]["warnings"]
    chat = [s for s in by_name["chat"]["samples"] if not s["warmup"]]
    assert sorted({s["turn"] for s in chat}) == [0, 1, 2] and all(s["error"] is None for s in chat)
    # Each turn carries the transcript so far: a later turn's prompt is longer than its first.
    session = next(s["session"] for s in chat if s["turn"] == 2)  # its first turn may be the warm-up
    prompts = {s["turn"]: s["prompt_tokens"] for s in by_name["chat"]["samples"] if s["session"] == session}
    assert prompts[2] > prompts[1] > prompts[0], prompts


def _shape(event: str) -> object:
    """An SSE event's structure without its values: which fields each object has, nested."""
    data = event.removeprefix("data: ").strip()
    if not data.startswith("{"):
        return data

    def keys(value: object) -> object:
        if isinstance(value, dict):
            return {k: keys(v) for k, v in sorted(value.items()) if not isinstance(v, str | int | float)}
        if isinstance(value, list):
            return [keys(v) for v in value]
        return None

    return keys(json.loads(data))


def test_the_recordings_the_fast_tests_replay_match_the_real_server(vllm_engines, tmp_path):
    """tests/record_vllm.py, run against the real server: what it records now has the events, fields and
    nesting of the committed recordings, so the fast tests replay what vLLM really sends."""
    script = [sys.executable, "-m", "tests.record_vllm", "--engines-dir", str(vllm_engines)]
    subprocess.run(
        [*script, "--out", str(tmp_path)],
        check=True,
        timeout=RUN_TIMEOUT_S,
        cwd=Path(__file__).parent.parent,
    )
    for name in ("vllm_completions", "vllm_chat"):
        fresh, committed = (json.loads((d / f"{name}.json").read_text()) for d in (tmp_path, RECORDINGS))
        assert fresh["status"] == committed["status"] == 200
        # The kinds of event, in the order they first come: how many token chunks there are is not
        # compared, as a busy vLLM merges the tokens its client has not read yet into one chunk.
        assert _kinds(fresh["chunks"]) == _kinds(committed["chunks"]), name


def _kinds(events: list[str]) -> list[object]:
    kinds: list[object] = []
    for shape in map(_shape, events):
        if shape not in kinds:
            kinds.append(shape)
    return kinds


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about the engine, not KARR
async def test_a_vllm_that_dies_mid_run_fails_the_run_and_leaves_no_process(
    runtime, vllm_engines, hf_model, tmp_path, monkeypatch
):
    """The API server is killed mid-benchmark: the run fails saying so, and vLLM's engine core and worker
    processes, which it leaves behind, are ended with it."""
    monkeypatch.setenv("KITT_ENGINES_DIR", str(vllm_engines))
    suite = tmp_path / "long.yaml"
    suite.write_text(LONG_SUITE)
    engines: list[NativeRuntime] = []

    def keep(_request: RunRequest) -> NativeRuntime:
        engines.append(NativeRuntime())
        return engines[0]

    async def served() -> bool:
        process = engines[0].process if engines else None
        if process is None:
            return False
        argv = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        port = int(argv[argv.index(b"--port") + 1])
        try:
            answer = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics", timeout=2)
        except httpx.HTTPError:
            return False
        return any(
            line.startswith("vllm:request_success_total") and float(line.split()[-1]) > 0
            for line in answer.text.splitlines()
        )

    async def kill_when_busy() -> int:
        await eventually(served, 120, 0.2, what="vLLM to finish a request of the soak")
        process = engines[0].process
        assert (
            process is not None and len(children.group_members(process.pid)) > 1
        )  # its engine core, workers
        os.kill(process.pid, signal.SIGKILL)
        return process.pid

    killer = asyncio.create_task(kill_when_busy())
    request = RunRequest(
        run_id=uuid7(), model=str(hf_model), engine="vllm", runtime="native", suite=str(suite)
    )
    executor = Executor(CommandReporter(runtime.nc), home=runtime.settings.home, runtimes=keep)
    outcome = await executor.run(request)
    pgid = await killer
    assert outcome.status == "failed" and "engine exited mid-run" in (outcome.error or ""), outcome.error
    assert children.group_members(pgid) == []


# Last in this module: the tests that measure through `--endpoint` share one server (`served`, module
# scope), stopped when the module ends, so it never runs beside another test's own vLLM server.


def test_quality_quick_completes_on_the_real_vllm(served, hf_model, tmp_path):
    """Through `--endpoint`, on the shared server: which also finds the model under the id vLLM lists
    for it (its path) from the name `-m` gives."""
    home = tmp_path / "home"
    args = ("-m", hf_model.name, "-e", "vllm", "--runtime", "external", "--endpoint", served)
    run = kitt(home, "run", *args, "-s", "quality-quick", "--json", timeout=RUN_TIMEOUT_S)
    outcome = json.loads(run.stdout)
    assert outcome["status"] == "succeeded", outcome
    doc = _document(home, outcome["run_id"])
    by_name = {b["name"]: b for b in doc["benchmarks"]}
    mmlu = by_name["mmlu"]
    assert mmlu["mode"] == "loglikelihood", (mmlu.get("error"), mmlu["settings"])  # vLLM echoes logprobs
    assert by_name["gsm8k"]["mode"] == "generative"
    for name in ("mmlu", "gsm8k"):
        [score] = [m for m in by_name[name]["metrics"] if m["name"] == "score"]
        assert by_name[name]["status"] == "succeeded" and 0.0 <= score["value"] <= 1.0, name


async def test_vllms_own_counters_grow_by_what_the_client_received(served):
    """The engine watch on the real vLLM: between the first and last scrape its generation-token counter
    grew by exactly the tokens KITT's client counted (the mapping reads vLLM's real names)."""
    host, port = served.removeprefix("http://").split(":")
    spec = specs.get("vllm")
    async with httpx.AsyncClient() as client:
        model = (await client.get(f"{served}/v1/models")).json()["data"][0]["id"]
    endpoint = Endpoint(host=host, port=int(port), model=model, spec=spec)
    # The recordings' prompt: on "hi" (two tokens) this vLLM CPU build's worker died mid-request here.
    prompt = "The capital of France"
    plan = factories.forced_plan(endpoint, prompt, 8, 8)
    async with EngineWatch(endpoint, interval_s=0.05) as watch:
        result = await loadgen.run(plan)
    assert watch.warning is None and result.columns.first_error is None, result.columns.first_error
    counted = [s.values["generation_tokens"] for s in watch.scrapes]
    assert counted[-1] - counted[0] == int(result.columns.output_tokens.sum()) == 64
    assert {"requests_running", "requests_waiting", "kv_cache_usage", "prompt_tokens"} <= set(
        watch.scrapes[-1].values
    )


def test_the_client_clock_benchmark_runs_at_its_smoke_size(served, hf_model):
    """bench/vllm.py (KITT's TTFT and ITL beside vLLM's own histograms) still runs, here against the
    shared server; nothing is asserted about its figures, only that it prints a line of them per level."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [
            sys.executable,
            str(root / "bench" / "vllm.py"),
            "--smoke",
            "--endpoint",
            served,
            "-m",
            str(hf_model),
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = r"TTFT [\d.]+, [\d.]+ / [\d.]+ \([+-][\d.]+\) \| ITL [\d.]+, [\d.]+ / [\d.]+"
    for level in ("c=1", "c=4"):
        assert re.search(rf"^{level}\s+\| {figures}", done.stdout, re.MULTILINE), done.stdout
