"""Campaigns end to end on the real runtime (real nats-server with the auth callout, both databases):
planning with recorded skips, the campaign manager dispatching item after item to test agents (simulated:
every result says so), retries, cancellation, pause and resume."""

import pytest
from aiohttp import web

from kitt.campaigns.plan import PlanError
from kitt.children import free_port
from kitt.commands.client import CommandFailed, send
from kitt.commands.messages import CancelCampaign, PauseCampaign, ResumeCampaign
from kitt.events import logs, subjects
from kitt.projections import admin
from kitt.projections.campaigns import CampaignsProjection
from kitt.storage import campaigns as stored
from kitt.storage import fleet
from tests.apiserver import TOKEN, app_for, serving
from tests.campaignhelpers import ended, planned, requested_per_item, started, test_agent
from tests.httpservice import LocalService
from tests.snapshots import snapshot
from tests.waiting import eventually

MATRIX = """
name: nightly
agent: sim-1
models: [/models/small-Q4_K_M.gguf, /models/llama-8b]
engines: [vllm, llama_cpp]
suites: [quick]
"""


async def test_a_campaign_on_a_test_agent_runs_what_its_dry_run_planned(runtime):
    await test_agent(runtime, "sim-1")
    dry = await planned(runtime, MATRIX, dry=True)
    assert [(s.model, s.engine) for s in dry.skipped] == [("/models/small-Q4_K_M.gguf", "vllm")]
    assert "vLLM cannot serve a gguf model" in dry.skipped[0].reason
    plan, campaign_id = await started(runtime, MATRIX)
    assert plan.items == dry.items and len(plan.items) == 3

    detail = await ended(runtime, campaign_id)
    assert detail.campaign.status == "succeeded"
    ran = [(i.key, i.model, i.engine, i.suite, i.agent) for i in detail.items]
    assert ran == [(i.key, i.model, i.engine, i.suite, i.agent) for i in plan.items]
    assert all(i.status == "succeeded" and i.simulated and i.run_id for i in detail.items)
    assert [(s.model, s.engine, s.status) for s in detail.skipped] == [
        ("/models/small-Q4_K_M.gguf", "vllm", "skipped")
    ]
    for item in detail.items:  # the test record says simulated too, not only the run
        test = await fleet.test(runtime.engine, item.test_id)
        assert test is not None and test.simulated and test.campaign_id == campaign_id
    assert set((await requested_per_item(runtime.nc, campaign_id)).values()) == {1}
    lines = [e.line for e in await logs.read(runtime.nc, subjects.campaign_log(campaign_id))]
    assert lines[:2] == ["planned 3 items, 1 skipped", "launched: 3 items"]
    assert lines[-1].startswith("completed: succeeded (3 succeeded")
    assert sum("succeeded (simulated)" in line for line in lines) == 3


async def test_a_failing_item_is_retried_then_counted_failed(runtime):
    await test_agent(runtime, "sim-flaky", fail_on=("broken",))
    text = """
name: flaky
agent: sim-flaky
models: [/models/good, /models/broken]
engines: [vllm]
max_retries: 1
retry_backoff_s: 0.5
"""
    _, campaign_id = await started(runtime, text)
    detail = await ended(runtime, campaign_id)
    assert detail.campaign.status == "completed_with_failures"
    by_model = {i.model: i for i in detail.items}
    assert by_model["/models/good"].status == "succeeded" and by_model["/models/good"].attempt == 1
    broken = by_model["/models/broken"]
    assert broken.status == "failed" and broken.attempt == 2 and "simulated failure" in (broken.error or "")
    counts = await requested_per_item(runtime.nc, campaign_id)
    assert counts == {("/models/good", "vllm"): 1, ("/models/broken", "vllm"): 2}
    assert detail.campaign.failed_items == 1 and detail.campaign.finished_items == 2


async def test_cancel_stops_the_running_item_and_queues_nothing_more(runtime):
    await test_agent(runtime, "sim-slow", speed=0.5)
    text = "name: long\nagent: sim-slow\nmodels: [/m/a, /m/b, /m/c]\nengines: [vllm]\n"
    _, campaign_id = await started(runtime, text)

    async def running():
        detail = await stored.campaign(runtime.engine, campaign_id)
        return detail if detail and any(i.status == "running" for i in detail.items) else None

    await eventually(running, timeout=30)
    await send(runtime.nc, CancelCampaign(campaign_id=campaign_id, reason="operator"))
    detail = await ended(runtime, campaign_id, timeout=60)
    assert detail.campaign.status == "cancelled"
    statuses = [i.status for i in detail.items]
    assert statuses == ["cancelled", "cancelled", "cancelled"]
    assert [i.attempt for i in detail.items] == [1, 0, 0]  # only the first ever ran
    first = await fleet.test(runtime.engine, detail.items[0].test_id)
    assert first is not None and first.status == "cancelled"
    assert sum((await requested_per_item(runtime.nc, campaign_id)).values()) == 1


async def test_a_paused_campaign_starts_nothing_until_resumed(runtime):
    await test_agent(runtime, "sim-p", speed=0.2)
    _, campaign_id = await started(runtime, "name: p\nagent: sim-p\nmodels: [/m/a, /m/b]\nengines: [vllm]\n")
    await send(runtime.nc, PauseCampaign(campaign_id=campaign_id))

    async def first_done():
        detail = await stored.campaign(runtime.engine, campaign_id)
        return detail if detail and detail.items[0].status == "succeeded" else None

    detail = await eventually(first_done, timeout=60)
    assert detail.campaign.status == "paused" and detail.items[1].status == "pending"
    await send(runtime.nc, ResumeCampaign(campaign_id=campaign_id))
    assert (await ended(runtime, campaign_id)).campaign.status == "succeeded"


async def test_campaigns_across_several_agents_run_in_parallel(runtime):
    await test_agent(runtime, "sim-a", speed=0.2)
    await test_agent(runtime, "sim-b", speed=0.2)
    text = "name: wide\nagents: [sim-a, sim-b]\nmodels: [/m/a, /m/b, /m/c, /m/d]\nengines: [vllm]\n"
    plan, campaign_id = await started(runtime, text)
    assert sorted(i.agent for i in plan.items) == ["sim-a", "sim-a", "sim-b", "sim-b"]
    detail = await ended(runtime, campaign_id)
    assert detail.campaign.status == "succeeded"
    windows = {}
    for item in detail.items:
        windows.setdefault(item.agent, []).append((item.started_at, item.finished_at))
    a, b = windows["sim-a"][0], windows["sim-b"][0]
    assert a[0] < b[1] and b[0] < a[1]  # the two lanes' first items overlapped


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("name: x\nagent: sim-1\nmodels: [/m/a]\nengines: [nope]\n", "unknown engine 'nope'"),
        ("name: x\nagent: ghost\nmodels: [/m/a]\nengines: [vllm]\n", "unknown agent 'ghost'"),
        (
            "name: x\nagent: sim-1\nmodels: [/m/a]\nengines: [vllm]\nsuites: [nosuch]\n",
            "unknown suite 'nosuch'",
        ),
    ],
    ids=["engine", "agent", "suite"],
)
async def test_bad_campaigns_are_refused_before_anything_is_created(runtime, text, why):
    await test_agent(runtime, "sim-1")
    with pytest.raises(PlanError, match=why):
        await planned(runtime, text)
    assert await stored.campaigns(runtime.engine) == []


async def test_an_empty_matrix_is_refused_with_the_reasons(runtime):
    await test_agent(runtime, "sim-1")
    text = "name: x\nagent: sim-1\nmodels: [/m/a.gguf]\nengines: [vllm]\n"
    with pytest.raises(CommandFailed, match=r"matrix is empty.*vLLM cannot serve a gguf model"):
        await started(runtime, text)
    assert await stored.campaigns(runtime.engine) == []


async def test_an_item_past_its_timeout_is_cancelled_and_fails(runtime):
    await test_agent(runtime, "sim-t", speed=2.0)  # a run takes seconds; the timeout is one
    text = "name: t\nagent: sim-t\nmodels: [/m/a]\nengines: [vllm]\ntest_timeout_s: 1\n"
    _, campaign_id = await started(runtime, text)
    detail = await ended(runtime, campaign_id, timeout=60)
    [item] = detail.items
    assert detail.campaign.status == "failed" and item.status == "failed"
    assert item.error == "timed out after 1 s"

    async def test_stopped():
        test = await fleet.test(runtime.engine, item.test_id)
        return test if test is not None and test.status == "cancelled" else None

    await eventually(test_stopped, timeout=30)  # the agent was told to stop it


async def test_an_agent_short_of_disk_skips_the_item_with_the_reason(runtime):
    await test_agent(runtime, "sim-d")
    text = "name: d\nagent: sim-d\nmodels: [/m/a, /m/b]\nengines: [vllm]\ndisk_reserve_gb: 1000000\n"
    _, campaign_id = await started(runtime, text)
    detail = await ended(runtime, campaign_id)
    assert [i.status for i in detail.items] == ["skipped", "skipped"]
    assert all("below the reserve of 1e+06 GiB" in (i.error or "") for i in detail.items)
    assert detail.campaign.status == "failed" and detail.campaign.failed_items == 0  # nothing ran


async def test_the_webhook_hears_how_it_ended(runtime):
    heard: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        heard.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await test_agent(runtime, "sim-w", fail_on=("bad",))
        text = (
            "name: w\nagent: sim-w\nmodels: [/m/a, /m/bad]\nengines: [vllm]\n"
            f"notify: {{webhook: 'http://127.0.0.1:{port}/hook', on: [failed]}}\n"
        )
        _, campaign_id = await started(runtime, text)
        await ended(runtime, campaign_id)

        async def told():
            return heard or None

        await eventually(told, timeout=15)
        outcome = {"status": "completed_with_failures", "succeeded": 1, "failed": 1}
        assert heard == [{"campaign_id": campaign_id, "name": "w", **outcome}]
    finally:
        await runner.cleanup()


class Hook(LocalService):
    """A webhook that records every request reaching it."""

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/hook", self.hear)

    async def hear(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        return web.Response(text="ok")


async def test_a_webhook_with_credentials_in_its_url_is_not_called(runtime):
    """notify.webhook passes Devon's address checks: here a URL with a password in it, to a live hook that
    would hear any request; the campaign's log says why it was not told."""
    hook = Hook()
    port = (await hook.start()).rsplit(":", 1)[1]
    try:
        await test_agent(runtime, "sim-wc")
        text = (
            "name: wc\nagent: sim-wc\nmodels: [/m/a]\nengines: [vllm]\n"
            f"notify: {{webhook: 'http://u:secret@127.0.0.1:{port}/hook', on: [completed]}}\n"
        )
        _, campaign_id = await started(runtime, text)
        await ended(runtime, campaign_id)

        async def refused():
            lines = [e.line for e in await logs.read(runtime.nc, subjects.campaign_log(campaign_id))]
            return [line for line in lines if line.startswith("webhook not told")] or None

        told = await eventually(refused, timeout=15)
        assert "no credentials" in told[0] and "secret" not in told[0]
        assert hook.seen == []
    finally:
        await hook.stop()


@pytest.mark.slow  # a whole campaign, then a rebuild of its read model
async def test_the_campaigns_read_model_rebuilds_identically(runtime):
    await test_agent(runtime, "sim-r", fail_on=("bad",))
    text = "name: r\nagent: sim-r\nmodels: [/m/a, /m/bad, /m/c.gguf]\nengines: [vllm]\nmax_retries: 1\n"
    _, campaign_id = await started(runtime, text)
    await ended(runtime, campaign_id)
    live = await snapshot(runtime.engine)
    await admin.rebuild(runtime.nc, runtime.engine, CampaignsProjection())
    rebuilt = await snapshot(runtime.engine)
    assert rebuilt["campaigns"] == live["campaigns"] and rebuilt["campaign_items"] == live["campaign_items"]
    assert len(live["campaign_items"]) == 3  # two items and the skip


async def test_the_campaigns_api_plans_launches_and_refuses_bad_files(runtime):
    await test_agent(runtime, "sim-api")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    text = "name: api\nagent: sim-api\nmodels: [/m/a, /m/b.gguf]\nengines: [vllm]\n"
    async with serving(app_for(runtime, token=TOKEN)) as client:
        dry = await client.post("/api/v1/campaigns", json={"campaign": text, "dry_run": True}, headers=auth)
        assert dry.status_code == 201 and len(dry.json()["items"]) == 1 and len(dry.json()["skipped"]) == 1
        assert (await client.get("/api/v1/campaigns", headers=auth)).json() == []  # a dry run creates nothing
        bad = await client.post("/api/v1/campaigns", json={"campaign": "name: x\nmodels: [\n"}, headers=auth)
        assert bad.status_code == 400 and "campaign: line 3" in bad.json()["detail"]
        unknown = "name: x\nagent: sim-api\nmodels: [/m/a]\nengines: [nope]\n"
        refused = await client.post("/api/v1/campaigns", json={"campaign": unknown}, headers=auth)
        assert refused.status_code == 400 and "unknown engine 'nope'" in refused.json()["detail"]
        anonymous = await client.post("/api/v1/campaigns", json={"campaign": text})
        assert anonymous.status_code == 401
        launched = await client.post("/api/v1/campaigns", json={"campaign": text}, headers=auth)
        campaign_id = launched.json()["id"]
        detail = await ended(runtime, campaign_id)
        assert detail.campaign.status == "succeeded"
        read = (await client.get(f"/api/v1/campaigns/{campaign_id}", headers=auth)).json()
        assert read["items"][0]["simulated"] is True and read["skipped"][0]["engine"] == "vllm"
        async with client.stream("GET", f"/api/v1/campaigns/{campaign_id}/logs", headers=auth) as events:
            body = "".join([chunk async for chunk in events.aiter_text()])
        assert "event: campaign" in body and "data: launched: 1 items" in body and "event: end" in body
