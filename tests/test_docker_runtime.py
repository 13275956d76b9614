"""The docker runtime through the Docker Engine API, against tests/docker_daemon.py: pulls of registry
images (no registry is reachable here) and CUDA images (no GPU), recorded from the Docker Engine API v1.47
reference; the fake daemon "runs" a container by starting a stub OpenAI server on the port in its command.
The real daemon, building and running KITT's CPU llama.cpp image, is tests/test_docker_real.py.
"""

import asyncio
import os

import pytest

from kitt.events.ids import uuid7
from kitt.orchestration.executor import Executor, RunRequest
from kitt.orchestration.reporting import CommandReporter
from kitt.runtime.embedded import Runtime
from kitt.storage import queries
from kitt.storage.checkpoints import wait_for_checkpoint
from tests.docker_daemon import FakeDockerd
from tests.test_cli import KITT

IMAGE = "vllm/vllm-openai:latest"
# These exercise the runtime, not the projections: one database is enough.
on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def safetensors_model(tmp_path):
    folder = tmp_path / "models" / "tiny-llama"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    (folder / "config.json").write_text("{}")
    return folder


async def _run(rt: Runtime, model, **kw):
    request = RunRequest(
        run_id=uuid7(),
        model=str(model),
        engine="vllm",
        runtime="docker",
        suite="quick",
        health_timeout_s=5,
        **kw,
    )
    outcome = await Executor(CommandReporter(rt.nc), home=rt.settings.home).run(request)
    assert await wait_for_checkpoint(rt.engine, "karr", outcome.seq)
    [doc] = await queries.documents(rt.engine, [outcome.run_id])
    return doc


@on_sqlite
async def test_auto_pull_create_run_and_always_remove(runtime, safetensors_model, tmp_path, monkeypatch):
    async with FakeDockerd(tmp_path / "docker.sock") as dockerd:
        monkeypatch.setenv("DOCKER_HOST", dockerd.url)
        doc = await _run(runtime, safetensors_model, auto_pull=True)
    assert doc.status == "succeeded", doc.error
    assert doc.info.engine_image == IMAGE and doc.info.runtime == "docker"
    assert ("POST", "/images/create") in dockerd.calls  # it was missing, so it was pulled
    [config] = dockerd.created
    assert config["Image"] == IMAGE
    host = config["HostConfig"]
    assert host["NetworkMode"] == "host"
    assert host["Binds"] == [f"{safetensors_model.parent}:/models:ro"]
    assert "DeviceRequests" not in host  # no GPU on this host: none requested
    cmd = config["Cmd"]
    assert cmd[:4] == ["--model", "/models/tiny-llama", "--served-model-name", "tiny-llama"]
    assert config["Labels"]["kitt.managed"] == "true"
    [(cid, box)] = dockerd.containers.items()
    assert box["removed"] and ("DELETE", f"/containers/{cid}") in dockerd.calls
    assert doc.info.engine_args == tuple(cmd)


@on_sqlite
async def test_a_missing_image_without_auto_pull_is_a_clear_failure(
    runtime, safetensors_model, tmp_path, monkeypatch
):
    async with FakeDockerd(tmp_path / "docker.sock") as dockerd:
        monkeypatch.setenv("DOCKER_HOST", dockerd.url)
        doc = await _run(runtime, safetensors_model, auto_pull=False)
    assert doc.status == "failed" and f"image {IMAGE} is not present; pass --auto-pull" in doc.error
    assert dockerd.created == []


@on_sqlite
async def test_a_container_that_exits_reports_its_last_log_lines(
    runtime, safetensors_model, tmp_path, monkeypatch
):
    async with FakeDockerd(tmp_path / "docker.sock", images={IMAGE}, container_exits=True) as dockerd:
        monkeypatch.setenv("DOCKER_HOST", dockerd.url)
        doc = await _run(runtime, safetensors_model)
    assert doc.status == "failed"
    assert "exited before becoming healthy" in doc.error
    assert "CUDA driver initialization failed" in doc.error
    [(_, box)] = dockerd.containers.items()
    assert box["removed"]


@on_sqlite
async def test_an_unreachable_daemon_is_a_clear_failure(runtime, safetensors_model, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nothing.sock'}")
    doc = await _run(runtime, safetensors_model, auto_pull=True)
    assert doc.status == "failed" and "docker" in doc.error.lower()


async def test_engines_setup_pulls_the_image(tmp_path):
    async with FakeDockerd(tmp_path / "docker.sock") as dockerd:
        env = {**os.environ, "KITT_HOME": str(tmp_path / "home"), "DOCKER_HOST": dockerd.url}
        proc = await asyncio.create_subprocess_exec(
            *KITT,
            "engines",
            "setup",
            "vllm",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert f"vLLM: {IMAGE} is ready" in out.decode()
    assert "Status: Downloaded newer image" in err.decode()
    assert IMAGE in dockerd.images
