"""The HTTP side of "secure by default", over real HTTP against the embedded runtime (both databases):
roles, principals in events, the Devon proxy's limits, writes from other sites, the install script,
server-side logout and hostile cookies. Each test here failed before its fix."""

import asyncio
import base64
import hashlib
import json
import os
import re
import socket
import stat
import subprocess

import httpx
import pytest
from aiohttp import web

from kitt.auth import localtoken, tokens
from kitt.cli.agents import install_lines
from kitt.commands.client import send
from kitt.commands.messages import CancelTest, RequestTest
from kitt.events import logs
from kitt.events.bus import EventBus
from kitt.events.types import TestSpec
from kitt.storage import fleet
from tests.agenthosts import RawAgent, provision, test_status, token_owner
from tests.apiserver import TOKEN, app_for, owner_headers, serving
from tests.httpservice import LocalService
from tests.test_ui import Devon, csrf_of
from tests.waiting import eventually

ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SAFE = {"GET", "HEAD", "OPTIONS"}


async def _user(client: httpx.AsyncClient, name: str, role: str) -> dict[str, str]:
    made = await client.post("/api/v1/users", json={"name": name, "role": role}, headers=ADMIN)
    assert made.status_code == 201 and made.json()["role"] == role, made.text
    return {"Authorization": f"Bearer {made.json()['token']}"}


async def test_a_viewer_reads_everything_and_changes_nothing(runtime):
    """Every write route, enumerated from the app, answers a viewer 403; reads answer 200."""
    app = app_for(runtime, token=TOKEN)
    writes = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if handler.opt.get("public") or handler.opt.get("any_role"):
                continue
            writes += [(route.path, m) for m in handler.http_methods - SAFE]
    assert len(writes) >= 25
    async with serving(app) as client:
        viewer = await _user(client, "vera", "viewer")
        for path, method in writes:
            concrete = re.sub(r"\{[a-z_]+:(str|path)\}", "x", path)
            answer = await client.request(method, concrete, headers=viewer, json={})
            assert answer.status_code == 403, (method, path, answer.status_code)
        assert (await client.get("/api/v1/runs", headers=viewer)).status_code == 200
        assert (await client.get("/api/v1/settings", headers=viewer)).status_code == 200
        install = await client.get("/api/v1/agent/install.sh", params={"name": "sneak"}, headers=viewer)
        assert install.status_code == 403
        assert await fleet.agent(runtime.engine, "sneak") is None
        minted = await client.post("/api/v1/users", json={"name": "mallory", "role": "admin"}, headers=viewer)
        assert minted.status_code == 403
        assert "mallory" not in (await client.get("/api/v1/users", headers=ADMIN)).text


async def test_events_record_the_authenticated_principal(runtime):
    async with serving(app_for(runtime, token=TOKEN)) as client:
        alice = await _user(client, "alice", "admin")
        assert (
            await client.post("/api/v1/agents", json={"name": "by-alice"}, headers=alice)
        ).status_code == 201
        assert (
            await client.post("/api/v1/agents", json={"name": "by-admin"}, headers=ADMIN)
        ).status_code == 201
        forged = await client.post("/api/v1/agents", json={"name": "forged", "actor": "admin"}, headers=alice)
        assert forged.status_code == 400  # no field of a request can name who sent it
    bus = EventBus(runtime.nc)
    assert [s.envelope.actor for s in (await bus.load("agent", "by-alice"))[0]] == ["user:alice"]
    assert [s.envelope.actor for s in (await bus.load("agent", "by-admin"))[0]] == ["admin"]
    assert (await bus.load("agent", "forged"))[0] == []
    assert [s.envelope.actor for s in (await bus.load("user", "alice"))[0]] == ["admin"]


class Internal(LocalService):
    """A service on this machine that KITT's API must not become a window onto: it records what reaches
    it, sets a cookie and serves HTML."""

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/{tail:.*}", self.page)

    async def page(self, request: web.Request) -> web.Response:
        self.seen.append({"path": request.path, **request.headers})
        response = web.Response(text="<script>document.cookie</script>", content_type="text/html")
        response.set_cookie("upstream", "planted", path="/")
        response.headers["Content-Security-Policy"] = "default-src *"
        return response


async def test_the_devon_proxy_goes_only_where_an_admin_pointed_it(runtime):
    internal = Internal()
    url = await internal.start()
    try:
        async with serving(app_for(runtime, token=TOKEN)) as client:
            viewer = await _user(client, "vic", "viewer")
            put = await client.put("/api/v1/settings/devon_url", json={"value": url}, headers=viewer)
            assert put.status_code == 403
            assert (await client.get("/devon-app/", headers=viewer)).status_code == 404  # not configured
            for bad in (
                "http://169.254.169.254/latest",
                "http://[fe80::1]/",
                "file:///etc/passwd",
                "http://u:p@x/",
            ):
                refused = await client.put("/api/v1/settings/devon_url", json={"value": bad}, headers=ADMIN)
                assert refused.status_code == 400, bad
            key = "devon-key-abcdef0123456789"
            for name, value in (("devon_url", url), ("devon_api_key", key)):
                put = await client.put(f"/api/v1/settings/{name}", json={"value": value}, headers=ADMIN)
                assert put.status_code == 200
            page = await client.get("/devon-app/anything", headers=viewer)
            assert page.status_code == 200
            assert "set-cookie" not in page.headers  # Devon cannot plant a cookie on KITT's origin
            assert page.headers["content-security-policy"].startswith("sandbox")
            assert internal.seen[-1]["Authorization"] == f"Bearer {key}"
            tricky = await client.get("/devon-app//@169.254.169.254/x", headers=viewer)
            assert tricky.status_code == 200 and internal.seen[-1]["path"].endswith("/@169.254.169.254/x")
    finally:
        await internal.stop()


async def test_writes_from_other_sites_are_refused_when_auth_is_off(runtime):
    """Without KITT_AUTH_TOKEN the owner's browser session is an admin's; another site's page must not act
    as them (the client here is the owner's)."""
    async with serving(app_for(runtime)) as client:
        plain = await client.post(
            "/api/v1/agents", content=b'{"name": "csrf"}', headers={"Content-Type": "text/plain"}
        )
        assert plain.status_code == 415
        rebound = await client.get("/api/v1/agents", headers={"Host": "attacker.example"})
        assert rebound.status_code == 403 and "not this server" in rebound.text
        script = await client.get(
            "/api/v1/agent/install.sh", params={"name": "rebind"}, headers={"Host": "attacker.example:8080"}
        )
        assert script.status_code == 403
        origin = await client.post(
            "/api/v1/agents", json={"name": "csrf2"}, headers={"Origin": "http://attacker.example"}
        )
        assert origin.status_code == 403
        cross = await client.get(
            "/api/v1/agent/install.sh", params={"name": "img-tag"}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert cross.status_code == 403
        assert (await client.post("/api/v1/agents", json={"name": "local-ok"})).status_code == 201
    assert await fleet.agent(runtime.engine, "csrf") is None
    assert await fleet.agent(runtime.engine, "rebind") is None
    assert await fleet.agent(runtime.engine, "img-tag") is None


async def test_install_sh_provisions_once_quotes_everything_and_ignores_the_host_header(runtime, tmp_path):
    app = app_for(runtime, token=TOKEN, public_url="https://kitt.example:8443")
    async with serving(app) as client:
        hostile = await client.get(
            "/api/v1/agent/install.sh", params={"name": "gpu-0"}, headers={**ADMIN, "Host": "$(touch pwned)"}
        )
        assert hostile.status_code == 400 or "$(touch" not in hostile.text
        other = {**ADMIN, "Host": "attacker.example"}
        script = await client.get("/api/v1/agent/install.sh", params={"name": "gpu-9"}, headers=other)
        assert script.status_code == 200, script.text
        text = script.text
        assert "attacker" not in text  # the base URL is configured, never the request's Host
        assert (
            "KITT_API=https://kitt.example:8443\n" in text and script.headers["cache-control"] == "no-store"
        )
        [token] = re.findall(r"kagent_[A-Za-z0-9_-]{43}", text)
        assert await token_owner(runtime.engine, token) == "gpu-9"
        syntax = await asyncio.to_thread(
            subprocess.run, ["sh", "-n"], input=text, capture_output=True, text=True
        )
        assert syntax.returncode == 0, syntax.stderr
        again = await client.get("/api/v1/agent/install.sh", params={"name": "gpu-9"}, headers=ADMIN)
        assert again.status_code == 409 and "rotate=true" in again.text
        rotated = await client.get(
            "/api/v1/agent/install.sh", params={"name": "gpu-9", "rotate": "true"}, headers=ADMIN
        )
        [fresh] = re.findall(r"kagent_[A-Za-z0-9_-]{43}", rotated.text)
        assert fresh != token and await token_owner(runtime.engine, token) is None
        bad = await client.get("/api/v1/agent/install.sh", params={"name": "a;b"}, headers=ADMIN)
        assert bad.status_code == 400
        rotate_token = await client.post("/api/v1/agents/gpu-9/rotate-token", json={}, headers=ADMIN)
        assert rotate_token.status_code == 200 and rotate_token.json()["token"] != fresh


async def test_logout_ends_the_session_on_the_server(runtime):
    async with serving(app_for(runtime, token=TOKEN)) as client:
        await client.post("/login", data={"token": TOKEN})
        cookie = client.cookies["kitt_session"]
        body = base64.urlsafe_b64decode(cookie.split(".")[0] + "==")
        assert hashlib.sha256(TOKEN.encode()).hexdigest()[:16].encode() not in body  # no plain token hash
        token = csrf_of((await client.get("/settings")).text)
        assert (await client.post("/logout", data={"csrf_token": token})).status_code == 303
        async with httpx.AsyncClient(base_url=str(client.base_url), cookies={"kitt_session": cookie}) as kept:
            replayed = await kept.get("/runs")
            assert replayed.status_code == 303 and replayed.headers["location"].startswith("/login")
            assert (await kept.get("/api/v1/runs")).status_code == 401


async def test_hostile_cookies_and_form_values_get_a_4xx_not_a_crash(runtime):
    async with serving(app_for(runtime, token=TOKEN)) as client:
        for value in ("é.é", "ü" * 40, "a.b.c", "\u2603"):
            raw = {"Cookie": f"kitt_session={value}".encode()}  # UTF-8 bytes, as a browser may send
            answer = await client.get("/runs", headers=raw)
            assert answer.status_code == 303, (value, answer.status_code)
        await client.post("/login", data={"token": TOKEN})
        forged = await client.post("/settings", data={"csrf_token": "é" * 43, "model_dir": "/x"})
        assert forged.status_code == 403


async def test_garbage_on_an_agents_own_subjects_breaks_no_page(runtime):
    """An agent may publish anything on its heartbeat and log subjects; the fleet list, a test's log page
    and its live stream keep working for everyone else."""
    token = await provision(runtime, "babbler")
    await eventually(lambda: token_owner(runtime.engine, token), timeout=10)
    spec = TestSpec(model="/models/m.gguf", engine="llama_cpp", runtime="native")
    test_id = (await send(runtime.nc, RequestTest(spec=spec, agent="babbler"))).ids[0]
    await test_status(runtime, test_id, "dispatched")  # projected: its page exists
    agent = await RawAgent().connect(runtime.local_agent_url, token, "babbler")
    js = agent.nc.jetstream()
    await js.publish("hb.babbler", b"\xff not json")
    await js.publish(f"log.babbler.{test_id}", b'{"line": 3}')
    await agent.nc.close()
    async with serving(app_for(runtime)) as client:
        listed = await client.get("/api/v1/agents")
        assert listed.status_code == 200 and listed.json()[0]["online"] is True
        assert (await client.get(f"/tests/{test_id}")).status_code == 200
        await send(runtime.nc, CancelTest(test_id=test_id, reason="done"))
        live = await asyncio.wait_for(client.get(f"/api/v1/tests/{test_id}/logs"), 30)
        assert live.status_code == 200 and "event: end" in live.text


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user (setpriv) needs root")
async def test_without_kitt_auth_token_another_user_on_this_machine_is_refused(runtime):
    """KITT_AUTH_TOKEN unset, as `kitt up` runs by default: another UID (nobody, through setpriv) reaches
    the loopback port but not the owner's token, so it mints nothing; the owner, with KITT_HOME/api-token,
    does."""
    app = app_for(runtime)
    token_file = localtoken.path(runtime.settings.home)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600 and token_file.stat().st_uid == os.geteuid()
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    async with serving(app, as_owner=False) as client:
        url = f"{client.base_url}/api/v1/users"
        minted = await _run(
            *as_nobody, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
            "Content-Type: application/json", "-d", '{"name": "m", "role": "admin"}', url,
        )  # fmt: skip
        assert minted == (0, "401")
        read = await _run(*as_nobody, "cat", str(token_file))
        assert read[0] != 0 and "Permission denied" in read[1]
        anonymous = await client.post("/api/v1/users", json={"name": "m", "role": "admin"})
        assert anonymous.status_code == 401 and "api-token" in anonymous.text
        owner = await client.post(
            "/api/v1/users", json={"name": "m2", "role": "viewer"}, headers=owner_headers(app)
        )
        assert owner.status_code == 201, owner.text
        users = (await client.get("/api/v1/users", headers=owner_headers(app))).json()
    assert [u["name"] for u in users] == ["m2"]


async def _run(*argv: str) -> tuple[int, str]:
    """A command's exit status and output, without blocking the loop the server answers in."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace").strip()


async def test_only_the_assigned_agent_writes_a_tests_log(runtime):
    """Another agent may publish on its own `log.OTHER.<test id>` (its subjects allow it); the test's page,
    its live log and `logs.history` show the assigned agent's lines only."""
    owner, other = await provision(runtime, "owner-1"), await provision(runtime, "other-1")
    await eventually(lambda: token_owner(runtime.engine, other), timeout=10)
    spec = TestSpec(model="/models/m.gguf", engine="llama_cpp", runtime="native")
    test_id = (await send(runtime.nc, RequestTest(spec=spec, agent="owner-1"))).ids[0]
    await test_status(runtime, test_id, "dispatched")
    at = "2026-12-06T00:00:00Z"
    for name, token, line in (("other-1", other, "FORGED by other-1"), ("owner-1", owner, "real line")):
        agent = await RawAgent().connect(runtime.local_agent_url, token, name)
        body = json.dumps({"run_id": "r", "source": "engine", "line": line, "at": at}).encode()
        await agent.nc.jetstream().publish(f"log.{name}.{test_id}", body)
        await agent.nc.close()
    assert [e.line for e in await logs.history(runtime.nc, test_id, "owner-1")] == ["real line"]
    async with serving(app_for(runtime)) as client:
        page = await client.get(f"/tests/{test_id}")
        assert page.status_code == 200 and "real line" in page.text and "FORGED" not in page.text
        await send(runtime.nc, CancelTest(test_id=test_id, reason="done"))
        live = await asyncio.wait_for(client.get(f"/api/v1/tests/{test_id}/logs"), 30)
        assert "data: real line" in live.text and "FORGED" not in live.text


class InstallServer(LocalService):
    """Serves an install script that does nothing, recording each request's headers."""

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/v1/agent/install.sh", self.script)

    async def script(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        return web.Response(text="exit 0\n")


async def test_the_printed_install_line_keeps_the_token_off_every_command_line():
    """`kitt agents provision`'s install lines, run by a real shell against a server that records what it
    was sent: the header arrives; the token is only in shell builtins (`export`, `printf`), never in the
    arguments of a program (curl, sh) that another user's `ps` would show."""
    token = tokens.new()
    server = InstallServer()
    url = await server.start()
    try:
        lines = install_lines(token, url)
        assert (await _run("sh", "-c", "\n".join(lines)))[0] == 0
    finally:
        await server.stop()
    assert [seen.get("Authorization") for seen in server.seen] == [f"Bearer {token}"]
    for stage in (stage.strip() for line in lines for stage in line.split("|")):
        if not stage.startswith(("export ", "printf ")):
            assert token not in stage and "$KITT_AGENT_TOKEN" not in stage, stage


async def test_the_devon_proxy_connects_to_the_address_it_checked(runtime, monkeypatch):
    """DNS rebinding: a name that resolves to this machine when checked and to the metadata address on any
    later lookup. The proxy connects to the address it checked (the name as Host), so it reaches Devon and
    never looks the name up again. The lookups are the event loop's own resolver, answered here."""
    devon = Devon()
    url = await devon.start()
    port = url.rsplit(":", 1)[1]
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    answers = {"checked": False, "lookups": 0}

    async def rebinding(host, *args, **kwargs):
        if host != "devon.rebind.test":
            return await real(host, *args, **kwargs)
        answers["lookups"] += 1
        first = not answers["checked"] or answers["lookups"] == 1
        address = "127.0.0.1" if first else "169.254.169.254"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    try:
        async with serving(app_for(runtime)) as client:
            saved = await client.put(
                "/api/v1/settings/devon_url", json={"value": f"http://devon.rebind.test:{port}"}
            )
            assert saved.status_code == 200, saved.text
            answers.update(checked=True, lookups=0)  # from now on only the first lookup is honest
            echoed = await client.get("/devon-app/echo")
        assert echoed.status_code == 200, echoed.text
        assert answers["lookups"] == 1 and devon.seen[-1]["Host"] == f"devon.rebind.test:{port}"
    finally:
        await devon.stop()
