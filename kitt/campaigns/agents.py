"""What planning needs to know about the agents a campaign names, read from their events."""

from collections.abc import Iterable

from kitt.campaigns.plan import LOCAL_AGENT, AgentInfo
from kitt.events import subjects
from kitt.events import types as ev
from kitt.events.bus import EventBus


async def lookup(bus: EventBus, names: Iterable[str]) -> dict[str, AgentInfo]:
    """The named agents that exist and are not revoked (an unknown name is simply absent)."""
    found: dict[str, AgentInfo] = {}
    for name in names:
        try:
            subjects.token(name, "agent name")
        except subjects.InvalidSubjectToken:
            continue
        stored, _ = await bus.load("agent", name)
        history = [s.envelope.event for s in stored]
        standing = [e for e in history if isinstance(e, ev.AgentProvisioned | ev.AgentRevoked)]
        if not standing or isinstance(standing[-1], ev.AgentRevoked):
            continue
        registered = [e for e in history if isinstance(e, ev.AgentRegistered)]
        hardware = registered[-1].hardware if registered else None
        found[name] = AgentInfo(
            name=name,
            arch=hardware.arch if hardware else None,
            online=bool(registered),
            local=name == LOCAL_AGENT,
        )
    return found


def named(spec: ev.CampaignSpec) -> list[str]:
    return list(spec.agents) or [spec.agent or LOCAL_AGENT]
