"""An agent's presence: it registers with its hardware once connected, then heartbeats on `hb.<agent>` (the
HB stream keeps the last one, with a TTL, so "online" is a direct get)."""

import asyncio
import contextlib
from collections.abc import Callable

import msgspec
from nats.aio.client import Client

from kitt import __version__
from kitt.agent.config import AgentConfig
from kitt.agent.reporter import AgentReporter
from kitt.engines import specs
from kitt.events import reports, subjects
from kitt.events.results import Hardware


class Heartbeat(msgspec.Struct, frozen=True, kw_only=True):
    agent: str
    running: tuple[str, ...]
    capacity: int
    simulated: bool = False


async def register(nc: Client, config: AgentConfig, hardware: Hardware, *, simulated: bool) -> None:
    report = reports.Registered(
        hardware=hardware,
        engines=tuple(specs.ENGINES),
        kitt_version=__version__,
        capacity=config.capacity,
        simulated=simulated,
    )
    await AgentReporter(nc, config.name, "agent").report(report)


async def heartbeat(
    nc: Client,
    config: Callable[[], AgentConfig],  # read afresh each beat: settings from the server may change it
    running: Callable[[], tuple[str, ...]],
    stop: asyncio.Event,
    *,
    simulated: bool,
) -> None:
    js = nc.jetstream()
    while not stop.is_set():
        now = config()
        beat = Heartbeat(agent=now.name, running=running(), capacity=now.capacity, simulated=simulated)
        with contextlib.suppress(Exception):  # presence is best effort; the next beat will do
            await js.publish(subjects.heartbeat(now.name), msgspec.json.encode(beat), timeout=5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), now.heartbeat_s)
