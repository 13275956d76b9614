"""The web UI and the API beside it, over real HTTP (uvicorn in the runtime's loop, as `kitt up` serves
them) against the embedded runtime: real NATS with auth callout, both databases. Runs come in through
the event path (ImportResult), so every page reads what the projections made of them."""

import asyncio
import json
import re
from datetime import timedelta

import httpx
import msgspec
from aiohttp import web

from kitt.commands.client import send
from kitt.commands.messages import ImportResult
from kitt.events.results import ResultDocument
from kitt.events.types import EVENT_TYPES
from kitt.storage import compare, records
from kitt.storage.checkpoints import wait_for_checkpoint
from tests import factories
from tests.apiserver import TOKEN, app_for, log_in, serving, test_agent
from tests.httpservice import LocalService
from tests.waiting import elapse, eventually

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def imported(rt, *docs: ResultDocument) -> None:
    for doc in docs:
        reply = await send(rt.nc, ImportResult(document=doc))
    await wait_for_checkpoint(rt.engine, "karr", reply.seq)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def _three_runs() -> tuple[ResultDocument, ResultDocument, ResultDocument]:
    t0 = factories.T0
    base = factories.sweep_document("run-base", engine="vllm", scale=1.0, started_at=t0)
    faster = factories.sweep_document("run-fast", engine="vllm", scale=1.3, started_at=t0 + timedelta(days=1))
    slower = factories.sweep_document(
        "run-slow", engine="llama_cpp", scale=0.7, started_at=t0 + timedelta(days=2)
    )
    return base, faster, slower


async def test_results_pages_filter_chart_download_and_compare(runtime):
    base, faster, slower = _three_runs()
    await imported(runtime, base, faster, slower)
    app = app_for(runtime)
    async with serving(app) as client:
        home = await client.get("/")
        assert home.status_code == 200 and "run-slow" in home.text and "runs in KARR" in home.text
        vllm = await client.get("/runs", params={"engine": "vllm"})
        assert "run-base" in vllm.text and "run-fast" in vllm.text and "run-slow" not in vllm.text
        later = await client.get(
            "/runs", params={"since": (factories.T0 + timedelta(days=1)).date().isoformat()}
        )
        assert "run-base" not in later.text and "run-slow" in later.text
        paged = await client.get(
            "/runs", params={"per_page": 1, "page": 2, "sort": "started_at", "order": "asc"}
        )
        assert "page 2 of 3" in paged.text and "run-fast" in paged.text and "run-slow" not in paged.text
        bad_sort = await client.get("/runs", params={"sort": "password"})
        assert bad_sort.status_code == 400 and "sort must be one of" in bad_sort.text
        assert "<!doctype html>" in bad_sort.text.lower()  # an error page, not JSON, for a browser route

        page = await client.get("/runs/run-base")
        assert page.status_code == 200
        # throughput and TTFT p50/p99 vs load, the TTFT CDF, 4 latency distributions (as `kitt report`)
        assert page.text.count('<svg class="chart"') == 7
        assert "Throughput vs load" in page.text and "Time to first token vs load" in page.text
        assert "Time to first token: cumulative distribution" in page.text
        assert "rtx4090-x86_64-64g" in page.text and "0.6.3" in page.text
        raw = await client.get("/runs/run-base/document.json")
        assert raw.headers["content-disposition"] == 'attachment; filename="run-base.json"'
        assert msgspec.json.decode(raw.content, type=ResultDocument) == base

        worse = await client.get("/compare", params=[("run", "run-base"), ("run", "run-slow")])
        assert worse.status_code == 200 and 'class="verdict regression"' in worse.text
        assert "Headline figures, % of the baseline" in worse.text
        assert "Pareto front" in worse.text and "Time to first token vs load" in worse.text
        better = await client.get("/compare", params=[("run", "run-base"), ("run", "run-fast")])
        assert 'class="verdict improvement"' in better.text
        missing = await client.get("/compare", params=[("run", "run-base"), ("run", "nope")])
        assert missing.status_code == 404

        api = await client.get("/api/v1/runs/compare", params=[("run", "run-base"), ("run", "run-slow")])
        assert api.json()["verdicts"] == ["baseline", "regression"]
        listed = await client.get("/api/v1/runs", params={"engine": "vllm", "limit": 1})
        assert listed.headers["x-total-count"] == "2" and len(listed.json()) == 1
        hits = app.state.cache.hits
        assert (
            await client.get("/api/v1/runs", params={"engine": "vllm", "limit": 1})
        ).json() == listed.json()
        assert app.state.cache.hits == hits + 2  # count and page, both read at this position: no query
        newer = factories.sweep_document(
            "run-new", engine="vllm", started_at=factories.T0 + timedelta(days=3)
        )
        await imported(runtime, newer)
        again = await client.get("/api/v1/runs", params={"engine": "vllm", "limit": 1})
        assert again.headers["x-total-count"] == "3" and again.json()[0]["run_id"] == "run-new"
        assert (await client.get("/api/v1/runs", params={"until": "yesterday"})).status_code == 400


async def test_the_run_page_draws_the_engines_per_second_series_read_out_of_band(runtime):
    doc = factories.sweep_document("run-tele", engine="vllm")
    rows = tuple(
        {"series": "engine", "t": float(t), "concurrency": c, "run": 0, "requests_running": float(c)}
        for c in (1, 4)
        for t in range(5)
    )
    with_series = msgspec.structs.replace(doc.benchmarks[0], telemetry=rows)
    doc = msgspec.structs.replace(doc, benchmarks=(with_series, *doc.benchmarks[1:]))
    stored = await records.outlined(runtime.nc, doc)  # as `kitt storage import` sends it: a reference
    ref = stored.benchmarks[0].telemetry_records
    assert stored.benchmarks[0].telemetry == () and ref is not None and ref.count == 10
    await imported(runtime, stored)
    async with serving(app_for(runtime)) as client:
        page = await client.get("/runs/run-tele")
        assert page.status_code == 200
        assert f"{doc.benchmarks[0].name}: engine requests running and waiting over time" in page.text
        raw = await client.get("/runs/run-tele/document.json")
        assert msgspec.json.decode(raw.content, type=ResultDocument).benchmarks[0].telemetry == rows


def test_a_comparison_counts_only_changes_beyond_the_noise():
    base = factories.sweep_document("a", scale=1.0)
    same = factories.sweep_document("b", scale=1.02)  # 2 %: inside the default 5 % noise
    slower = factories.sweep_document("c", scale=0.8)
    result = compare.compare([base, same, slower])
    assert result.verdicts == ["baseline", "no change", "regression"]
    ttft = next(
        r
        for r in result.rows
        if r.metric == "ttft" and r.percentile == "p99" and r.labels["concurrency"] == "1"
    )
    assert ttft.better == "lower" and ttft.verdicts == ["baseline", "same", "worse"]
    assert round(ttft.deltas_pct[2]) == 25  # 1 / 0.8 - 1
    strict = compare.compare([base, same], noise_pct=1.0)
    assert strict.verdicts == ["baseline", "improvement"]
    score = next(r for r in strict.rows if r.metric == "score")
    assert score.verdicts == ["baseline", "same"]  # equal scores: no change, whatever the noise


async def test_login_session_csrf_and_user_tokens(runtime):
    async with serving(app_for(runtime, token=TOKEN)) as client:
        anonymous = await client.get("/runs")
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/runs"
        wrong = await client.post("/login", data={"token": "nope", "next": "/runs"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        assert "kitt_session" not in client.cookies
        ok = await client.post("/login", data={"token": TOKEN, "next": "https://evil.example/"})
        assert ok.status_code == 303 and ok.headers["location"] == "/"  # never an open redirect
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert (await client.get("/runs")).status_code == 200
        assert (await client.get("/api/v1/runs")).status_code == 200  # the session opens reads
        write = await client.post("/api/v1/agents", json={"name": "by-cookie"})
        assert write.status_code == 401  # ...but an API write needs a bearer token

        forged = await client.post("/settings", data={"model_dir": "/forged"})
        assert forged.status_code == 403 and "CSRF" in forged.text
        token = csrf_of((await client.get("/settings")).text)
        saved = await client.post("/settings", data={"csrf_token": token, "model_dir": "/models"})
        assert saved.status_code == 303
        settings = (await client.get("/api/v1/settings")).json()
        assert {"key": "model_dir", "value": "/models", "overrides": "KITT_MODEL_DIR"} in settings

        issued = await client.post("/settings/users", data={"csrf_token": token, "name": "alice"})
        alice_token = re.search(r"kuser_[A-Za-z0-9_-]{43}", issued.text).group(0)
        async with httpx.AsyncClient(base_url=str(client.base_url)) as alice:
            assert (await alice.post("/login", data={"token": alice_token})).status_code == 303
            assert (await alice.get("/agents")).status_code == 200
            bearer = {"Authorization": f"Bearer {alice_token}"}
            assert (await alice.get("/api/v1/runs", headers=bearer)).status_code == 200
            revoked = await client.post("/settings/users/alice/revoke", data={"csrf_token": token})
            assert revoked.status_code == 303
            assert (await alice.get("/agents")).status_code == 303  # her session ended with her token
            assert (await alice.get("/api/v1/runs", headers=bearer)).status_code == 401

        other = await client.post("/logout", data={"csrf_token": token})
        assert other.status_code == 303
        assert (await client.get("/runs")).status_code == 303

    async with serving(app_for(runtime, token="a-new-admin-token")) as client:
        async with serving(app_for(runtime, token=TOKEN)) as old:
            await old.post("/login", data={"token": TOKEN})
            client.cookies = old.cookies
        assert (await client.get("/runs")).status_code == 303  # a new KITT_AUTH_TOKEN ends old sessions


def _gguf(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\0" * 60)


async def test_model_browser_is_confined_to_the_model_folder(runtime, tmp_path):
    root, outside = tmp_path / "models", tmp_path / "private"
    _gguf(root / "llama" / "tiny.gguf")
    (root / "broken.gguf").write_bytes(b"not a model")
    _gguf(outside / "secret.gguf")
    (root / "escape").symlink_to(outside)
    (root / "inner").symlink_to(root / "llama")
    async with serving(app_for(runtime)) as client:
        put = await client.put("/api/v1/settings/model_dir", json={"value": str(root)})
        assert put.status_code == 200
        top = (await client.get("/api/v1/models")).json()
        names = {e["name"]: e for e in top["entries"]}
        assert set(names) == {"llama", "broken.gguf", "inner"}  # the symlink out is not even listed
        assert "GGUF magic" in names["broken.gguf"]["problem"]
        inside = (await client.get("/api/v1/models", params={"path": "llama"})).json()
        assert inside["entries"][0]["format"] == "gguf" and "llama_cpp" in inside["entries"][0]["engines"]
        assert inside["parent"] == ""
        for bad in (
            "..",
            "../private",
            "/etc",
            str(outside),
            "llama/../../private",
            "escape",
            "escape/secret.gguf",
        ):
            refused = await client.get("/api/v1/models", params={"path": bad})
            assert refused.status_code == 400, bad
            assert "model folder" in refused.json()["detail"], bad
        page = await client.get("/models", params={"path": "../private"})
        assert page.status_code == 400 and "climbs out of the model folder" in page.text
        assert "secret.gguf" not in page.text
        listing = await client.get("/models", params={"path": "llama"})
        assert "tiny.gguf" in listing.text and "llama_cpp" in listing.text


class Devon(LocalService):
    """A stand-in for Devon over real HTTP: it records what reached it and echoes the key back."""

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/echo", self.echo)
        router.add_get("/stream", self.stream)
        router.add_post("/things", self.create)

    async def echo(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        auth = request.headers.get("Authorization", "")
        return web.json_response({"you_sent": auth}, headers={"X-Echo": auth})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        key = request.headers["X-Api-Key"].encode()
        response = web.StreamResponse()
        await response.prepare(request)
        for part in (b"before " + key[:5], key[5:] + b" after"):  # the key straddles two chunks
            await response.write(part)
            await elapse(0.05)  # two chunks on the wire, not one
        return response

    async def create(self, request: web.Request) -> web.Response:
        return web.json_response({"created": True}, status=201)


async def test_devon_proxy_injects_the_key_and_never_shows_it(runtime):
    key = "devon-secret-key-0123456789"
    devon = Devon()
    url = await devon.start()
    async with serving(app_for(runtime)) as client:
        for name, value in (("devon_url", url), ("devon_api_key", key), ("devon_tab_visible", True)):
            assert (await client.put(f"/api/v1/settings/{name}", json={"value": value})).status_code == 200
        echoed = await client.get("/devon-app/echo")
        assert echoed.status_code == 200 and devon.seen[-1]["Authorization"] == f"Bearer {key}"
        assert key not in echoed.text and key not in str(echoed.headers) and "[hidden]" in echoed.text
        streamed = await client.get("/devon-app/stream")
        assert streamed.text == "before [hidden] after"
        assert key not in (await client.get("/api/v1/settings")).text
        settings_page = await client.get("/settings")
        assert key not in settings_page.text and 'href="/devon-app/"' in settings_page.text
        cross = await client.post("/devon-app/things", json={}, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403
        same = await client.post("/devon-app/things", json={}, headers={"Sec-Fetch-Site": "same-origin"})
        assert same.status_code == 201
        await devon.stop()
        down = await client.get("/devon-app/echo")
        assert down.status_code == 502 and "cannot be reached" in down.text and key not in down.text


async def test_metrics_in_prometheus_format(runtime):
    later = factories.T0 + timedelta(hours=1)
    await imported(runtime, factories.sweep_document("run-m", started_at=later))
    await imported(runtime, factories.sweep_document("run-old", scale=2.0))  # older: not the latest
    await imported(runtime, factories.sweep_document("run-tgi", engine="tgi", scale=0.5))
    async with serving(app_for(runtime, token=TOKEN)) as client:
        assert (await client.get("/metrics")).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        await client.get("/api/v1/runs", headers=auth)
        assert (
            await client.put("/api/v1/settings/devon_tab_visible", json={"value": True}, headers=auth)
        ).is_success
        text = (await client.get("/metrics", headers=auth)).text
    assert 'kitt_projection_lag_events{projection="karr"} 0.0' in text
    assert re.search(r'kitt_stream_last_sequence\{stream="EVENTS"\} [1-9]', text)
    assert "kitt_agents_online 0.0" in text
    assert (
        'kitt_http_request_duration_seconds_count{method="GET",route="/api/v1/runs",status="200"} 1.0' in text
    )
    assert 'kitt_runs{status="succeeded"} 3.0' in text
    assert 'kitt_command_duration_seconds_count{command="ChangeSetting",outcome="ok"} 1.0' in text
    figure = 'kitt_latest_figure{engine="%s",figure="%s",model="llama-8b",simulated="false"} '
    # The latest vLLM run is run-m (scale 1): 90·16^0.8 tok/s and a TTFT p99 of 40·2·3 ms.
    assert figure % ("vllm", "output_throughput") + str(90.0 * 16**0.8) in text
    assert figure % ("vllm", "ttft_p99") + "240.0" in text
    assert figure % ("vllm", "score") + "0.6" in text
    assert figure % ("tgi", "ttft_p99") + "480.0" in text


async def _sse_events(client, path: str, count: int, headers=None) -> list[dict[str, str]]:
    """The first `count` events (comments skipped) of an SSE stream, read as they arrive."""
    events, current = [], {}
    async with client.stream("GET", path, headers=headers or {}) as response:
        assert response.status_code == 200
        async for raw in response.aiter_lines():
            if raw == "":
                if "data" in current:  # a comment or a bare retry/id line is not an event
                    events.append(current)
                    if len(events) == count:
                        return events
                current = {}
                continue
            key, _, value = raw.partition(":")
            if key:
                current[key] = value.lstrip(" ")
    return events


async def test_live_feeds_share_one_upstream_and_resume(runtime):
    """Three browsers on one test's log share a single feed; the activity and fleet feeds carry
    headlines and heartbeats; Last-Event-ID resumes right after the id given."""
    await test_agent(runtime, "sim-feed")
    app = app_for(runtime)
    async with serving(app) as client:
        hub = app.state.hub
        activity = asyncio.create_task(_sse_events(client, "/api/v1/streams/activity", 2))
        fleet_feed = asyncio.create_task(_sse_events(client, "/api/v1/streams/fleet", 1))
        await eventually(lambda: _feeds(hub, "ev.>", "hb.*"), timeout=10)
        body = {"agent": "sim-feed", "model": "/models/m", "engine": "vllm", "runtime": "docker"}
        await eventually(lambda: _is_registered(client, "sim-feed"), timeout=30)
        test_id = (await client.post("/api/v1/tests", json=body, params={"wait": "true"})).json()["id"]
        followers = [
            asyncio.create_task(_sse_events(client, f"/api/v1/tests/{test_id}/logs", 3)) for _ in range(3)
        ]
        lines = await asyncio.gather(*followers)
        subject = f"log.sim-feed.{test_id}"  # its agent's lines only
        assert hub.opened[subject] == 1 and hub.last[subject].peak == 3  # one upstream, three browsers
        assert lines[0] == lines[1] == lines[2] and lines[0][0]["data"].startswith("simulated vllm")
        headlines = await activity
        assert all(h.get("event") in EVENT_TYPES for h in headlines), headlines
        first = json.loads(headlines[0]["data"])
        assert first["aggregate"] in ("test", "agent") and "token_hash" not in headlines[0]["data"]
        beat = await fleet_feed
        assert beat[0]["event"] == "heartbeat" and json.loads(beat[0]["data"])["agent"] == "sim-feed"
        again = await _sse_events(
            client, "/api/v1/streams/activity", 1, headers={"Last-Event-ID": headlines[0]["id"]}
        )
        assert again[0]["id"] == headlines[1]["id"]  # resumed right after: no gap, no duplicate
    assert not hub.feeds  # every browser left: every upstream stopped


async def _feeds(hub, *subjects: str) -> bool:
    """Each subject's feed has subscribed upstream. Asked of the latest feed, not the open ones: a feed
    whose browser already has its events (the agent's own registration can supply them) is gone again."""
    return all(s in hub.last and hub.last[s].started.done() for s in subjects)


async def _is_registered(client, name: str) -> bool:
    answer = await client.get(f"/api/v1/agents/{name}")
    return answer.status_code == 200 and answer.json()["status"] == "registered"


async def test_engine_profiles_and_engines_through_the_api(runtime):
    async with serving(app_for(runtime)) as client:
        engines = {e["name"]: e for e in (await client.get("/api/v1/engines")).json()}
        assert "gguf" in engines["llama_cpp"]["formats"] and "docker" in engines["vllm"]["runtimes"]
        body = {"engine": "vllm", "args": ["--max-model-len", "8192"], "env": {"VLLM_USE_V1": "1"}}
        saved = await client.put("/api/v1/engine-profiles/long-ctx", json=body)
        assert saved.status_code == 200 and saved.json()["engine"] == "vllm"
        listed = (await client.get("/api/v1/engine-profiles")).json()
        assert listed == [{**body, "name": "long-ctx", "description": ""}]
        unknown = await client.put("/api/v1/engine-profiles/x", json={**body, "engine": "nosuch"})
        assert unknown.status_code == 400 and "unknown engine 'nosuch'" in unknown.text
        assert (await client.delete("/api/v1/engine-profiles/long-ctx")).status_code == 204
        assert (await client.get("/api/v1/engine-profiles")).json() == []
        assert (await client.delete("/api/v1/engine-profiles/long-ctx")).status_code == 404


async def test_agents_managed_from_the_ui_forms(runtime):
    """Create a test agent, change its settings, rotate and revoke its token, provision another: each a
    form with the session's CSRF token, each landing as an event the agents projection shows."""
    app = app_for(runtime)
    async with serving(app, as_owner=False) as client:
        await log_in(client, app.state.kitt.local_token)  # the owner's browser: a session, no bearer
        token = csrf_of((await client.get("/agents")).text)
        form = {"csrf_token": token, "name": "sim-form", "gpu": "GH200", "gpus": "2", "arch": "arm64"}
        made = await client.post("/agents/test", data=form)
        assert made.status_code == 303 and made.headers["location"] == "/agents/sim-form"
        await eventually(lambda: _is_registered(client, "sim-form"), timeout=30)
        agent = (await client.get("/api/v1/agents/sim-form")).json()
        assert agent["simulated"] and agent["hardware"]["arch"] == "aarch64"
        assert [g["name"] for g in agent["hardware"]["gpus"]] == ["NVIDIA GH200"] * 2
        again = await client.post("/agents/test", data=form)
        assert again.status_code == 400 and "already exists" in again.text
        sneaky = await client.post("/agents/test", data={**form, "name": "../../etc/x"})
        assert sneaky.status_code == 400 and "invalid agent name" in sneaky.text
        assert not list((runtime.settings.home / "test-agents").glob("*etc*"))

        settings = {
            "csrf_token": token,
            "model_dir": "/srv/models",
            "cleanup_models": "on",
            "heartbeat_s": "2",
        }
        assert (await client.post("/agents/sim-form/settings", data=settings)).status_code == 303
        shown = (await client.get("/api/v1/agents/sim-form")).json()["settings"]
        assert shown == {"model_dir": "/srv/models", "cleanup_models": True, "heartbeat_s": 2}
        bad = await client.post("/agents/sim-form/settings", data={**settings, "heartbeat_s": "soon"})
        assert bad.status_code == 400 and "heartbeat_s must be a number" in bad.text

        rotated = await client.post("/agents/sim-form/rotate", data={"csrf_token": token})
        assert rotated.status_code == 200 and re.search(r"kagent_[A-Za-z0-9_-]{43}", rotated.text)
        revoked = await client.post("/agents/sim-form/revoke", data={"csrf_token": token})
        assert revoked.status_code == 303
        assert (await client.get("/api/v1/agents/sim-form")).json()["status"] == "revoked"
        provisioned = await client.post("/agents", data={"csrf_token": token, "name": "gpu-form"})
        assert "kitt-agent init --server" in provisioned.text and "gpu-form" in provisioned.text
        assert (await client.post("/agents", data={"name": "no-csrf"})).status_code == 403
