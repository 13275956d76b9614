"""KITT's own images on the real Docker daemon, built on the local Debian base: the seed's Docker quick
start as written (`docker run … kitt run -m /models/X -e llama_cpp`, and the same through
`docker compose run`), KITT in its container starting the engine as a sibling container, as a non-root
user, with none of the build's pip settings in the image; and the agent image on top of it."""

import json
import os
import shutil
import subprocess

import pytest

from tests.dockerhost import ROOT, docker, managed_containers

# One worker runs every test of the Docker daemon's (`docker` group): they count its kitt-managed containers
# and share the images they build.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("docker")]


@pytest.fixture
def models(tmp_path, tiny_model):
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(tiny_model, folder / "tiny.gguf")
    for path in (tmp_path, folder):
        path.chmod(0o755)  # readable by the image's unprivileged user, as a model folder usually is
    (folder / "tiny.gguf").chmod(0o644)
    return folder


def test_the_quick_start_as_written(kitt_image, models, tmp_path):
    run = subprocess.run(
        [
            "docker", "run", "--rm", "--network", "host",
            "-v", "/var/run/docker.sock:/var/run/docker.sock",
            "-v", f"{models}:/models:ro",
            "-v", "./kitt-results:/app/kitt-results",
            "kitt", "run", "-m", "/models/tiny.gguf", "-e", "llama_cpp", "--json",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout)
    assert outcome["status"] == "succeeded"
    assert (tmp_path / "kitt-results" / "karr.db").exists()  # KARR and the event store stay on the host
    assert "engine.container_removed" in run.stderr and managed_containers() == []


def test_the_image_runs_kitt_unprivileged_and_keeps_no_build_settings(kitt_image):
    uid = docker("run", "--rm", "--entrypoint", "kitt-entrypoint", "kitt", "id", "-u").stdout.strip()
    assert uid != "0"
    leftovers = docker(
        "run", "--rm", "--entrypoint", "sh", "kitt", "-c",
        "ls /etc/kitt-build 2>/dev/null; find / -xdev -name ca.crt -path '*build-extras*' 2>/dev/null",
    ).stdout  # fmt: skip
    assert leftovers.strip() == ""
    assert (
        "nats-server" in docker("run", "--rm", "--entrypoint", "sh", "kitt", "-c", "ls /opt/kitt/bin").stdout
    )


def test_docker_compose_run_as_written(kitt_image, models, tmp_path):
    compose = tmp_path / "docker-compose.yaml"
    shutil.copy(ROOT / "docker-compose.yaml", compose)
    env = {**os.environ, "MODEL_PATH": str(models)}
    checked = subprocess.run(
        ["docker-compose", "-f", str(compose), "config"], env=env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    run = subprocess.run(
        ["docker-compose", "-f", str(compose), "run", "--rm", "-T", "kitt",
         "run", "-m", "/models/tiny.gguf", "-e", "llama_cpp", "--json"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout[run.stdout.index("{") :])["status"] == "succeeded"
    assert managed_containers() == []


def test_the_agent_image_builds_on_the_kitt_image(kitt_image):
    built = docker(
        "build", "-q", "-f", str(ROOT / "docker" / "agent.Dockerfile"), "--build-arg", "KITT_IMAGE=kitt",
        "-t", "kitt-agent", str(ROOT), check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    assert "kitt-agent" in docker("run", "--rm", "kitt-agent", "--version").stdout
