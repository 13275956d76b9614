"""vLLM for real: `kitt engines setup vllm --runtime native` builds vLLM's CPU build into an environment
of its own, and `kitt run` drives the real vLLM server on the tiny Hugging Face model, into KARR.

The environment is built once per machine and reused, keyed by the pinned recipe (KITT_TEST_ENGINES_DIR,
default ~/.cache/kitt-tests/engines); the first test to need it builds it through the CLI, as a user
would. Every test here runs on one worker (`xdist_group("vllm")`): a vLLM server holds a few GB and a
core, and one at a time is what this machine has room for.
"""

import fcntl
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kitt.engines import envs, install
from kitt.models import tiny_hf
from tests.factories import measured
from tests.replay import RECORDINGS
from tests.test_cli import kitt

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("vllm")]

SETUP_TIMEOUT_S = 900
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
    """The folder holding the vLLM environment (KITT_ENGINES_DIR), built by the CLI when not there yet."""
    _, recipe = install.recipe("vllm", gpu=False)
    key = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    base = Path(os.environ.get("KITT_TEST_ENGINES_DIR", "~/.cache/kitt-tests/engines")).expanduser() / key
    base.mkdir(parents=True, exist_ok=True)
    with (base / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session on this machine may be building it
        if envs.installed("vllm", base) is None:
            made = kitt(
                base / "home",
                *("engines", "setup", "vllm", "--runtime", "native", "--build", "cpu"),
                env={"KITT_ENGINES_DIR": str(base)},
                timeout=SETUP_TIMEOUT_S,
            )
            assert "vLLM: cpu build: " in made.stdout and "vllm 0.32.0+cpu" in made.stdout
    return base


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory) -> Path:
    return tiny_hf.write(tmp_path_factory.mktemp("models") / "tiny-llama")


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
    chat = [s for s in by_name["chat"]["samples"] if not s["warmup"]]
    assert sorted({s["turn"] for s in chat}) == [0, 1, 2] and all(s["error"] is None for s in chat)
    # Each turn carries the transcript so far: a later turn's prompt is longer than its first.
    session = next(s["session"] for s in chat if s["turn"] == 2)  # its first turn may be the warm-up
    prompts = {s["turn"]: s["prompt_tokens"] for s in by_name["chat"]["samples"] if s["session"] == session}
    assert prompts[2] > prompts[1] > prompts[0], prompts


def test_quality_quick_completes_on_the_real_vllm(vllm_engines, hf_model, tmp_path):
    home = tmp_path / "home"
    outcome = _run(home, vllm_engines, hf_model, "-s", "quality-quick")
    assert outcome["status"] == "succeeded", outcome
    doc = _document(home, outcome["run_id"])
    by_name = {b["name"]: b for b in doc["benchmarks"]}
    assert by_name["mmlu"]["mode"] == "loglikelihood"  # vLLM echoes prompt logprobs
    assert by_name["gsm8k"]["mode"] == "generative"
    for name in ("mmlu", "gsm8k"):
        [score] = [m for m in by_name[name]["metrics"] if m["name"] == "score"]
        assert by_name[name]["status"] == "succeeded" and 0.0 <= score["value"] <= 1.0, name


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
        assert [_shape(e) for e in fresh["chunks"]] == [_shape(e) for e in committed["chunks"]], name
