"""The HTTP API served by uvicorn in the runtime's event loop (as `kitt up` serves it), against the embedded
runtime (real NATS, auth callout on, both databases), through a real HTTP client. Test agents supply the
runs, so every run here is marked simulated. (Litestar's test client runs the app on another event loop,
where the runtime's NATS connection cannot answer.)"""

import asyncio
import os
import re
import subprocess

import msgspec
import pytest

from kitt.agent import config as agent_config
from kitt.commands.client import send
from kitt.commands.messages import ImportResult
from kitt.storage.checkpoints import wait_for_checkpoint
from tests import factories
from tests.apiserver import TOKEN, app_for, serving, test_agent
from tests.pipcache import pip_cache_env
from tests.waiting import eventually


async def test_runs_are_listed_filtered_and_served_whole(runtime):
    for index, engine in enumerate(("vllm", "llama_cpp", "vllm")):
        doc = factories.document(f"run-{index}", seed=index)
        doc = msgspec.structs.replace(doc, info=msgspec.structs.replace(doc.info, engine=engine))
        reply = await send(runtime.nc, ImportResult(document=doc))
    await wait_for_checkpoint(runtime.engine, "karr", reply.seq)
    async with serving(app_for(runtime)) as client:
        assert (await client.get("/api/v1/health")).json()["status"] == "ok"
        listed = (await client.get("/api/v1/runs", params={"engine": "vllm"})).json()
        assert sorted(r["run_id"] for r in listed) == ["run-0", "run-2"]
        one = await client.get("/api/v1/runs/run-1")
        assert one.status_code == 200 and one.json()["info"]["engine"] == "llama_cpp"
        assert one.json()["benchmarks"][0]["samples"]  # the whole document, raw records included
        missing = await client.get("/api/v1/runs/nope")
        assert missing.status_code == 404 and "no run 'nope'" in missing.text
        assert (await client.get("/api/v1/runs", params={"limit": 0})).status_code == 400
        schema = (await client.get("/schema/openapi.json")).json()
        assert (
            "/api/v1/runs/{run_id}" in schema["paths"] and "/api/v1/tests/{test_id}/logs" in schema["paths"]
        )


async def test_a_quick_test_through_the_api_with_its_live_log(runtime):
    await test_agent(runtime, "sim-api")
    async with serving(app_for(runtime)) as client:
        await eventually(lambda: _registered(client, "sim-api"), timeout=30)
        body = {"agent": "sim-api", "model": "/models/m", "engine": "vllm", "runtime": "docker"}
        created = await client.post("/api/v1/tests", json=body, params={"wait": "true"})
        assert created.status_code == 201, created.text
        test_id = created.json()["id"]
        assert (await client.get(f"/api/v1/tests/{test_id}")).json()["agent"] == "sim-api"  # read your write

        events = await _sse(client, f"/api/v1/tests/{test_id}/logs")
        lines = [e for e in events if e.get("event") in ("kitt", "engine")]
        assert lines[0]["data"].startswith("simulated vllm") and events[-1] == {
            "event": "end",
            "data": "succeeded",
        }
        ids = [int(e["id"]) for e in lines]
        assert ids == sorted(ids)
        resumed = await _sse(client, f"/api/v1/tests/{test_id}/logs", last_id=ids[1])
        assert [int(e["id"]) for e in resumed if "id" in e] == ids[2:]  # no gap, no duplicate

        bad = await client.post("/api/v1/tests", json={**body, "agent": "nobody"})
        assert bad.status_code == 404 and "unknown agent 'nobody'" in bad.text
        engine = await client.post("/api/v1/tests", json={**body, "engine": "nosuch"})
        assert engine.status_code == 400 and "nosuch" in engine.text
        malformed = await client.post("/api/v1/tests", json={"agent": "sim-api"})
        assert malformed.status_code == 400
        finished = await client.post(f"/api/v1/tests/{test_id}/cancel", json={})
        assert finished.status_code == 409 and "already finished" in finished.text


async def _registered(client, name: str) -> bool:
    answer = await client.get(f"/api/v1/agents/{name}")
    return answer.status_code == 200 and answer.json()["status"] == "registered"


async def _sse(client, path: str, last_id: int | None = None) -> list[dict[str, str]]:
    headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
    response = await asyncio.wait_for(client.get(path, headers=headers), 30)
    events, current = [], {}
    for raw in response.text.replace("\r\n", "\n").split("\n"):
        if not raw:
            if current:
                events.append(current)
            current = {}
            continue
        key, _, value = raw.partition(":")
        current[key] = value.lstrip(" ")
    return events


async def test_every_route_refuses_anonymous_access_when_a_token_is_set(runtime):
    """Enumerated from the app: an API route answers 401, a page sends the browser to the login page;
    only the login page and the static files are open."""
    app = app_for(runtime, token=TOKEN)
    routes = []
    for route in app.routes:
        handlers = [h for h in getattr(route, "route_handlers", []) if h.http_methods - {"OPTIONS"}]
        public = all(h.opt.get("public") for h in handlers)
        routes.append((route.path, sorted(route.methods - {"OPTIONS", "HEAD"}), public))
    assert len(routes) >= 40
    assert {path for path, _, public in routes if public} == {"/login", "/static/{file_path:path}"}
    async with serving(app) as client:
        for path, methods, public in routes:
            if public:
                continue
            concrete = re.sub(r"\{[a-z_]+:(str|path)\}", "x", path)
            for method in methods:
                for headers in ({}, {"Authorization": "Bearer nope"}):
                    answer = await client.request(method, concrete, headers=headers)
                    if path.startswith(("/api/", "/schema", "/metrics")):
                        assert answer.status_code == 401, (method, path)
                    else:
                        assert answer.status_code in (401, 303), (method, path)
                        if answer.status_code == 303:
                            assert answer.headers["location"].startswith("/login?next="), (method, path)
        ok = await client.get("/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        assert (await client.get("/static/kitt.css")).status_code == 200


async def test_agents_are_provisioned_once_and_oversized_bodies_refused(runtime):
    async with serving(app_for(runtime)) as client:
        made = await client.post("/api/v1/agents", json={"name": "gpu-api"})
        assert made.status_code == 201 and made.json()["token"].startswith("kagent_")
        assert made.json()["server"] == runtime.agent_url
        again = await client.post("/api/v1/agents", json={"name": "gpu-api"})
        assert again.status_code == 409 and "already provisioned" in again.text
        bad = await client.post("/api/v1/agents", json={"name": "no spaces allowed"})
        assert bad.status_code == 400
        listed = (await client.get("/api/v1/agents")).json()
        assert [a["name"] for a in listed] == ["gpu-api"] and "token_hash" not in listed[0]
        huge = await client.post(
            "/api/v1/agents", content=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"}
        )
        assert huge.status_code == 413


@pytest.mark.slow  # a fresh venv with KITT installed into it
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # an install, not a projection
async def test_the_install_script_installs_a_working_agent_in_a_fresh_home(runtime, tmp_path):
    """The script, as an agent host runs it: it fetches the package with the agent's own token, checks its
    SHA-256, makes a venv, installs, and writes agent.yaml (0600). pip takes the dependencies from PyPI."""
    async with serving(app_for(runtime, token=TOKEN)) as client:
        made = await client.post(
            "/api/v1/agents", json={"name": "gpu-inst"}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        agent_token = made.json()["token"]
        assert (await client.get("/api/v1/agent/install.sh")).status_code == 401
        assert (
            await client.get("/api/v1/runs", headers={"Authorization": f"Bearer {agent_token}"})
        ).status_code == 401
        script = await client.get(
            "/api/v1/agent/install.sh", headers={"Authorization": f"Bearer {agent_token}"}
        )
        assert script.status_code == 200 and "sha256sum -c" in script.text
        home = tmp_path / "host"
        home.mkdir()
        env = {
            "HOME": str(home),
            "PATH": os.environ["PATH"],
            "KITT_AGENT_TOKEN": agent_token,
            "KITT_AGENT_NAME": "gpu-inst",
            **pip_cache_env(),
        }
        tampered = re.sub(r'echo "[0-9a-f]{64}', 'echo "' + "0" * 64, script.text)
        refused = await asyncio.to_thread(
            subprocess.run, ["sh", "-c", tampered], env=env, capture_output=True, text=True, timeout=120
        )
        assert refused.returncode == 1 and "does not match: not installing it" in refused.stderr
        assert not (home / ".kitt" / "agent-venv").exists()
        done = await asyncio.to_thread(
            subprocess.run, ["sh", "-c", script.text], env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]
        agent_cli = str(home / ".kitt" / "agent-venv" / "bin" / "kitt-agent")
        updated = await asyncio.to_thread(
            subprocess.run, [agent_cli, "update"], env=env, capture_output=True, text=True, timeout=300
        )
        assert updated.returncode == 0, updated.stderr[-2000:]
        assert "installed kitt-" in updated.stdout and "checked" in updated.stdout
    config = home / ".kitt" / "agent.yaml"
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    saved = agent_config.load(config)
    assert (saved.name, saved.server, saved.token) == ("gpu-inst", runtime.agent_url, agent_token)
    version = await asyncio.to_thread(
        subprocess.run, [agent_cli, "--version"], capture_output=True, text=True, check=True
    )
    assert "kitt-agent" in version.stdout
    assert saved.api and saved.api.startswith("http://127.0.0.1:")
