"""Helpers for campaign tests: test agents, planning and launching through the real path, waiting."""

from pathlib import Path

from kitt.agent import testagents
from kitt.agent.simulated import SimulatedHost
from kitt.auth import tokens
from kitt.campaigns import file as campaign_file
from kitt.commands.client import send
from kitt.commands.messages import ProvisionAgent
from kitt.events import streams
from kitt.events.bus import EventBus
from kitt.events.types import TestRequested
from kitt.orchestration import campaigns as campaign_manager
from kitt.orchestration.launching import launch, plan_campaign
from kitt.projections.campaigns import CampaignsProjection
from kitt.storage import campaigns as stored
from kitt.storage import fleet
from kitt.storage.checkpoints import wait_for_checkpoint
from tests.waiting import eventually

ENDED = ("succeeded", "completed_with_failures", "failed", "cancelled")


async def test_agent(rt, name: str, *, speed: float = 0.01, fail_on: tuple[str, ...] = (), arch="x86_64"):
    host = SimulatedHost(name=name, gpu="H100 80GB", arch=arch, speed=speed, fail_on=fail_on)
    token = tokens.new()
    testagents.save(rt.settings.home, testagents.TestAgentFile(host=host, token=token))
    await send(rt.nc, ProvisionAgent(name=name, token_hash=tokens.digest(token)))

    async def registered():
        found = await fleet.agent(rt.engine, name)
        return found if found and found.status == "registered" else None

    return await eventually(registered, timeout=30)


test_agent.__test__ = False


async def planned(rt, text: str, *, dry: bool = False, source: Path | None = None):
    parsed = campaign_file.parse(text)
    spec = parsed.spec(str(source) if source else None)
    return await plan_campaign(rt.nc, rt.settings.home, parsed.name, spec, local_ok=not dry)


async def started(rt, text: str, **kw):
    plan = await planned(rt, text, **kw)
    campaign_id, _ = await launch(rt.nc, plan)
    return plan, campaign_id


async def ended(rt, campaign_id: str, timeout: float = 90) -> stored.CampaignDetail:
    async def done():
        detail = await stored.campaign(rt.engine, campaign_id)
        if detail is None or detail.campaign.status not in ENDED:
            return None
        settled = all(i.status in ("succeeded", "failed", "cancelled", "skipped") for i in detail.items)
        return detail if settled else None

    return await eventually(done, timeout=timeout, interval=0.2)


async def requested_per_item(nc, campaign_id: str) -> dict[tuple[str, str], int]:
    """TestRequested events in EVENTS for this campaign, counted per (model, engine)."""
    counts: dict[tuple[str, str], int] = {}
    async for stored_event in EventBus(nc).read("ev.test.*.test_requested"):
        event = stored_event.envelope.event
        if isinstance(event, TestRequested) and event.campaign_id == campaign_id:
            key = (event.spec.model, event.spec.engine)
            counts[key] = counts.get(key, 0) + 1
    return counts


async def settled(nc, engine) -> None:
    """The campaign manager has handled every event it was given, and the campaigns read model has applied
    every campaign event committed by then: a dispatch it was going to make is visible (or never comes)."""
    js = nc.jetstream()

    async def drained() -> bool:
        info = await js.consumer_info(streams.EVENTS, campaign_manager.DURABLE)
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(drained, 30, what="the campaign manager to handle every event")
    bus = EventBus(nc)
    last = max([await bus.last_seq(s) for s in CampaignsProjection.subjects] or [0])
    assert await wait_for_checkpoint(engine, CampaignsProjection.name, last), f"campaigns below {last}"
