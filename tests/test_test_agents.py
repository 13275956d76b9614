"""Test agents: simulated hosts inside the runtime (auth callout on), through the same dispatch, reports,
ingestor and projections as real agents. Everything they produce is marked simulated."""

import configparser
import json
import os
import shutil
import subprocess
import sys

from kitt.agent import testagents
from kitt.agent.simulated import SimulatedHost
from kitt.auth import tokens
from kitt.commands.client import send
from kitt.commands.messages import ProvisionAgent, RequestTest
from kitt.events.types import TestSpec
from kitt.storage import fleet
from tests.agenthosts import finished_run, test_status
from tests.test_cli import kitt
from tests.waiting import eventually


async def test_a_test_agent_runs_a_suite_with_consistent_simulated_figures(runtime):
    host = SimulatedHost(name="sim-h100", gpu="H100 80GB", gpus=8, arch="aarch64", speed=0.05)
    token = tokens.new()
    testagents.save(runtime.settings.home, testagents.TestAgentFile(host=host, token=token))
    await send(runtime.nc, ProvisionAgent(name="sim-h100", token_hash=tokens.digest(token)))

    async def registered():
        found = await fleet.agent(runtime.engine, "sim-h100")
        return found if found and found.status == "registered" else None

    agent = await eventually(registered, timeout=30)
    assert agent.simulated and agent.hardware.arch == "aarch64" and len(agent.hardware.gpus) == 8

    spec = TestSpec(model="/models/llama-3-8b", engine="vllm", suite="quick", runtime="docker")
    reply = await send(runtime.nc, RequestTest(spec=spec, agent="sim-h100"))
    test = await test_status(runtime, reply.ids[0], "succeeded", "failed", timeout=60)
    assert test.status == "succeeded", test.error
    doc = await finished_run(runtime, test.run_id)
    assert (
        doc.info.simulated
        and doc.info.agent == "sim-h100"
        and doc.info.hardware.gpus[0].name.endswith("H100 80GB")
    )
    [latency] = doc.benchmarks
    assert latency.settings["simulated"] is True
    throughput = {m.labels["concurrency"]: m.value for m in latency.metrics if m.name == "output_throughput"}
    ttft = {
        m.labels["concurrency"]: m.value
        for m in latency.metrics
        if m.name == "ttft" and m.percentile == "p50"
    }
    assert throughput["4"] > throughput["1"] > 0 and ttft["4"] > ttft["1"] > 0


def test_create_test_agent_and_quicktest_from_the_cli(tmp_path):
    home = tmp_path / "home"
    created = kitt(
        home, "agents", "create-test", "sim-a", "--gpu", "A100 40GB", "--gpus", "2", "--speed", "0.05"
    )
    assert "simulated" in created.stdout
    out = kitt(
        home, "quicktest", "run", "--agent", "sim-a", "-m", "m.gguf", "-e", "llama_cpp", "--wait", "--json"
    )
    test = json.loads(out.stdout)
    assert test["status"] == "succeeded" and test["agent"] == "sim-a"
    run = json.loads(kitt(home, "storage", "show", test["run_id"]).stdout)
    assert (
        run["info"]["simulated"] is True and run["info"]["hardware"]["gpus"][1]["name"] == "NVIDIA A100 40GB"
    )
    listed = json.loads(kitt(home, "agents", "list", "--json").stdout)
    assert listed[0]["name"] == "sim-a" and listed[0]["simulated"] is True
    unknown = kitt(home, "quicktest", "run", "--agent", "nope", "-m", "m", "-e", "vllm", check=False)
    assert unknown.returncode == 1 and "unknown agent 'nope'" in unknown.stderr
    engine = kitt(home, "quicktest", "run", "--agent", "sim-a", "-m", "m", "-e", "nosuch", check=False)
    assert engine.returncode == 1 and "nosuch" in engine.stderr


def test_a_test_for_an_engine_the_agents_platform_cannot_run_is_refused_unless_forced(tmp_path):
    home = tmp_path / "home"
    kitt(home, "agents", "create-test", "sim-arm", "--arch", "arm64", "--speed", "0.05")
    refused = kitt(home, "quicktest", "run", "--agent", "sim-arm", "-m", "m", "-e", "tgi", check=False)
    assert refused.returncode == 1 and "no build for sim-arm's platform (aarch64" in refused.stderr
    assert "--force" in refused.stderr
    forced = kitt(home, "quicktest", "run", "--agent", "sim-arm", "-m", "m", "-e", "tgi", "--force", "--json")
    assert json.loads(forced.stdout)["status"] in ("requested", "dispatched", "running", "succeeded")


def test_kitt_agent_init_refuses_a_malformed_token(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kitt.agent.cli",
            "init",
            "--server",
            "nats://h:4222",
            "--token",
            "abc",
            "--name",
            "x",
        ],
        env={**os.environ, "KITT_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "an agent token is 'kagent_' followed by 43" in result.stderr
    assert not (tmp_path / "agent.yaml").exists()


def test_service_install_writes_a_unit_systemd_accepts(tmp_path):
    env = {**os.environ, "KITT_HOME": str(tmp_path / "kitt")}
    agent = [sys.executable, "-m", "kitt.agent.cli"]
    units = tmp_path / "units"
    out = subprocess.run(
        [*agent, "service", "install", "--unit-dir", str(units)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    unit = units / "kitt-agent.service"
    assert str(unit) in out.stdout
    parsed = configparser.ConfigParser(strict=True, interpolation=None)
    parsed.optionxform = str
    parsed.read(unit)
    assert parsed["Service"]["Restart"] == "on-failure"
    assert parsed["Service"]["ExecStart"] == f"{sys.executable} -m kitt.agent.cli start"
    assert parsed["Service"]["Environment"] == f"KITT_HOME={tmp_path / 'kitt'}"
    assert parsed["Install"]["WantedBy"] == "default.target"
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
        assert verify.returncode == 0, verify.stderr
    removed = subprocess.run(
        [*agent, "service", "uninstall", "--unit-dir", str(units)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "removed" in removed.stdout and not unit.exists()
