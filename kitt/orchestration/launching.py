"""Planning a campaign against the fleet as recorded, and creating and launching it: one path for the
CLI, the web wizard and the scheduler."""

import platform
from pathlib import Path

import msgspec
from nats.aio.client import Client

from kitt.auth import localagent
from kitt.campaigns import agents
from kitt.campaigns.plan import LOCAL_AGENT, AgentInfo, Plan, plan
from kitt.commands.client import send
from kitt.commands.messages import CreateCampaign, LaunchCampaign
from kitt.events.bus import EventBus
from kitt.events.campaigns import CampaignItem, CampaignSpec


async def plan_campaign(
    nc: Client, home: Path, name: str, spec: CampaignSpec, *, local_ok: bool = True
) -> Plan:
    """The plan as it would run now. A campaign for this machine provisions its local agent first
    (`local_ok`; a dry run does not: it plans as if the agent were there)."""
    names = agents.named(spec)
    if LOCAL_AGENT in names and local_ok:
        await localagent.ensure(home, nc)
    known = await agents.lookup(EventBus(nc), names)
    if LOCAL_AGENT in names:
        found = known.get(LOCAL_AGENT)
        if found is not None or not local_ok:
            arch = (found.arch if found else None) or platform.machine()
            known[LOCAL_AGENT] = AgentInfo(
                name=LOCAL_AGENT, arch=arch, online=bool(found and found.online), local=True
            )
    return plan(name, spec, known, home)


def only(planned: Plan, keys: set[str], resumes: str) -> Plan:
    """The same plan narrowed to some items (keys kept, so item 002 is item 002 in both campaigns)."""
    items: tuple[CampaignItem, ...] = tuple(i for i in planned.items if i.key in keys)
    spec = msgspec.structs.replace(planned.spec, resumes=resumes)
    return Plan(name=planned.name, spec=spec, items=items, skipped=())


async def launch(nc: Client, planned: Plan, *, actor: str | None = None) -> tuple[str, int]:
    """Create the campaign and launch it; returns its id and the sequence to wait for. `actor`: who asked
    (the API's authenticated principal; the CLI's default is this machine's user)."""
    create = CreateCampaign(
        name=planned.name, spec=planned.spec, items=planned.items, skipped=planned.skipped
    )
    if actor:
        create = msgspec.structs.replace(create, actor=actor)
    campaign_id = (await send(nc, create)).ids[0]
    start = LaunchCampaign(campaign_id=campaign_id)
    launched = await send(nc, msgspec.structs.replace(start, actor=actor) if actor else start)
    return campaign_id, launched.seq
