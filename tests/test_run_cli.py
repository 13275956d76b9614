"""`kitt run`, `kitt engines` and `kitt fingerprint` as a user runs them, on the real llama-server."""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from kitt.storage import documents
from tests.engineprocs import engine_processes as _engine_processes
from tests.engineprocs import has_served
from tests.test_cli import KITT, kitt
from tests.test_run import LONG_SUITE
from tests.waiting import until


def run_native(home: Path, model: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    """`kitt run` of MODEL on the native llama.cpp server."""
    return kitt(home, "run", "-m", str(model), "-e", "llama_cpp", "--runtime", "native", *args, **kw)


async def test_kitt_run_lands_in_karr_and_round_trips(tmp_path, model, database_url):
    home, env = tmp_path / "home", {"KITT_DATABASE_URL": database_url}
    results = tmp_path / "results"
    result = run_native(home, model, "-o", str(results), "--json", env=env)
    outcome = json.loads(result.stdout)
    [written] = documents.load(results / f"{outcome['run_id']}.json")
    assert written.run_id == outcome["run_id"] and written.status == "succeeded"
    assert outcome["status"] == "succeeded"
    [listed] = json.loads(kitt(home, "storage", "list", "--json", env=env).stdout)
    assert (listed["run_id"], listed["status"], listed["engine"]) == (
        outcome["run_id"],
        "succeeded",
        "llama_cpp",
    )
    # The real run's document, raw records included, survives export -> import -> export unchanged.
    exported = tmp_path / "run.json"
    kitt(home, "storage", "export", "-o", str(exported), env=env)
    kitt(tmp_path / "other", "storage", "import", str(exported))
    assert kitt(tmp_path / "other", "storage", "export").stdout == exported.read_text()
    doc = json.loads(exported.read_text())[0]
    assert doc["benchmarks"][0]["samples"] and doc["info"]["engine_args"][:2] == ["-m", str(model.resolve())]
    # llama-server's own per-second series (--metrics) travelled out of band too, and came back inline
    series = doc["benchmarks"][0]["telemetry"]
    assert (
        series
        and {r["series"] for r in series} == {"engine"}
        and doc["benchmarks"][0]["telemetry_records"] is None
    )
    assert all("requests_running" in r for r in series)


@pytest.mark.slow  # a second real engine run; kitt run end to end stays in the fast tier
def test_a_profile_is_applied_to_the_engine_launch(tmp_path, model):
    home = tmp_path / "home"
    kitt(
        home, "engines", "profiles", "save", "small", "-e", "llama.cpp", "--", "--ctx-size", "512", "-np", "2"
    )
    listed = json.loads(kitt(home, "engines", "profiles", "list", "--json").stdout)
    assert listed == [
        {
            "name": "small",
            "engine": "llama_cpp",
            "args": ["--ctx-size", "512", "-np", "2"],
            "env": {},
            "description": "",
        }
    ]
    out = run_native(home, model, "--profile", "small", "--json")
    run_id = json.loads(out.stdout)["run_id"]
    doc = json.loads(kitt(home, "storage", "show", run_id).stdout)
    assert doc["info"]["engine_profile"] == "small"
    assert doc["info"]["engine_args"][-4:] == ["--ctx-size", "512", "-np", "2"]
    missing = run_native(home, model, "--profile", "nope", check=False)
    assert missing.returncode == 1 and "no engine profile 'nope'" in missing.stderr


def test_bad_input_is_one_clear_line_and_a_failed_run(tmp_path, model):
    home = tmp_path / "home"
    wrong = kitt(home, "run", "-m", str(model), "-e", "tgi", "--runtime", "native", check=False)
    assert wrong.returncode == 1 and "Text Generation Inference cannot serve a gguf model" in wrong.stdout
    [run] = json.loads(kitt(home, "storage", "list", "--json").stdout)
    assert run["status"] == "failed"


def test_ctrl_c_stops_the_engine_and_records_the_run_as_cancelled(tmp_path, model):
    home = tmp_path / "home"
    suite = tmp_path / "long.yaml"
    suite.write_text(LONG_SUITE)
    env = {**os.environ, "KITT_HOME": str(home)}
    env.pop("KITT_NATS_URL", None)
    env.pop("KITT_DATABASE_URL", None)
    proc = subprocess.Popen(
        [*KITT, "run", "-m", str(model), "-e", "llama_cpp", "--runtime", "native", "-s", str(suite)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A background job inherits SIGINT ignored (so would kitt): give the child a terminal's default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    until(lambda: has_served(model), 60, 0.1, what="the engine to serve a request (the soak under way)",
          seen=lambda: proc.poll())  # fmt: skip
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cancelled" in err
    assert _engine_processes(model) == []
    [run] = json.loads(kitt(home, "storage", "list", "--json").stdout)
    assert run["status"] == "cancelled"


def test_fingerprint_and_engines_commands(tmp_path, model):
    details = json.loads(kitt(tmp_path, "fingerprint", "--json").stdout)
    assert len(details["hardware"]["fingerprint"]) == 16 and details["hardware"]["cpu_cores"] >= 1
    assert details["hardware"]["gpus"] == [] and details["gpu_status"] != "ok"  # no GPU here, and why
    engines = {e["engine"]: e for e in json.loads(kitt(tmp_path, "engines", "list", "--json").stdout)}
    assert set(engines) == {"vllm", "tgi", "llama_cpp", "ollama", "exllamav2"}
    assert engines["llama_cpp"]["native_binary"].endswith("llama-server")
    dry = kitt(tmp_path, "engines", "setup", "vllm", "--dry-run").stdout
    assert "would pull vllm/vllm-openai:latest" in dry
    (tmp_path / "engines.yaml").write_text("image_overrides:\n  vllm: my/vllm:dev\n")
    assert (
        "would pull my/vllm:dev (override" in kitt(tmp_path, "engines", "setup", "vllm", "--dry-run").stdout
    )
    assert "can serve" in kitt(tmp_path, "engines", "check", "llama_cpp", "-m", str(model)).stdout
    refused = kitt(tmp_path, "engines", "check", "vllm", "-m", str(model), check=False)
    assert refused.returncode == 1 and "vLLM cannot serve a gguf model" in refused.stderr
    unknown = kitt(tmp_path, "engines", "check", "mlc", check=False)
    assert unknown.returncode == 1 and "unknown engine 'mlc'" in unknown.stderr
