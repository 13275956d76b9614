"""Agents as tests use them: real `kitt-agent` processes in homes of their own, and the waits around them."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import nats

from kitt.auth import permissions, tokens
from kitt.commands.client import send
from kitt.commands.messages import ProvisionAgent
from kitt.config import Settings
from kitt.events import streams
from kitt.events.bus import EventBus
from kitt.orchestration import ingestor
from kitt.projections.db import normalize_url
from kitt.runtime.embedded import Runtime
from kitt.storage import fleet, queries
from kitt.storage.checkpoints import wait_for_checkpoint
from tests.waiting import eventually

AGENT = [sys.executable, "-m", "kitt.agent.cli"]


def settings_for(database_url: str, home: Path, **kw) -> Settings:
    """The embedded runtime's settings (its NATS always authenticates: agents through the callout)."""
    return Settings(home=home, nats_url=None, database_url=normalize_url(database_url), **kw)


class AgentProcess:
    """`kitt-agent init` then `kitt-agent start`, in a home of its own."""

    def __init__(
        self, home: Path, name: str, token: str, server: str, tls_ca: Path | None = None, capacity: int = 1
    ) -> None:
        self.home = home
        self.env = {**os.environ, "KITT_HOME": str(home), "KITT_AGENT_TOKEN": token}
        extra = ["--tls-ca", str(tls_ca)] if tls_ca else []
        extra += ["--capacity", str(capacity)]
        subprocess.run(
            [*AGENT, "init", "--server", server, "--name", name, "--heartbeat", "1", *extra],
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> "AgentProcess":
        self.process = subprocess.Popen(
            [*AGENT, "start"], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        return self

    def stop(self, sig: int = 15) -> str:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, _ = self.process.communicate(timeout=60)
        return out


class RawAgent:
    """A raw NATS client presenting an agent's token, recording errors and disconnects."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.disconnected = asyncio.Event()
        self.nc: nats.NATS | None = None

    async def connect(self, url: str, token: str, agent: str) -> "RawAgent":
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))

        async def on_disconnect() -> None:
            self.disconnected.set()

        self.nc = await nats.connect(
            url,
            token=token,
            inbox_prefix=permissions.inbox_prefix(agent),
            error_cb=on_error,
            disconnected_cb=on_disconnect,
            reconnect_time_wait=0.2,
            max_reconnect_attempts=-1,
            connect_timeout=2,
        )
        return self

    async def violations(self, count: int) -> list[str]:
        async def enough():
            found = [e for e in self.errors if "permissions violation" in e]
            return found if len(found) >= count else None

        return await eventually(enough, timeout=5)


async def provision(rt: Runtime, name: str) -> str:
    token = tokens.new()
    await send(rt.nc, ProvisionAgent(name=name, token_hash=tokens.digest(token)))
    return token


async def token_owner(db, token: str) -> str | None:
    """The agent the read model says this token belongs to (None: unknown, revoked or rotated away)."""
    return await fleet.agent_for_token_hash(db, tokens.digest_or_none(token))


async def registered(rt: Runtime, name: str) -> fleet.Agent | None:
    found = await fleet.agent(rt.engine, name)
    return found if found is not None and found.status == "registered" else None


async def test_status(rt: Runtime, test_id: str, *wanted: str, timeout: float = 90) -> fleet.Test:
    async def check():
        test = await fleet.test(rt.engine, test_id)
        return test if test is not None and test.status in wanted else None

    return await eventually(check, timeout=timeout, interval=0.2)


test_status.__test__ = False  # a helper, not a test


async def finished_run(rt: Runtime, run_id: str):
    """The run's document once KARR has its end: the tests and KARR projections advance separately."""

    async def finished():
        found = await queries.documents(rt.engine, [run_id])
        return found[0] if found and found[0].status != "running" else None

    return await eventually(finished, timeout=15)


async def projected(rt: Runtime, name: str, timeout: float = 30) -> None:
    """Every report agents have sent is settled by the ingestor, and the projection `name` has applied
    every event committed by then: a read after this sees all that has happened (or will never happen)."""
    js = rt.nc.jetstream()

    async def drained() -> bool:
        info = await js.consumer_info(streams.AGENT_IN, ingestor.DURABLE)
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(drained, timeout, what="the ingestor to settle every report")
    [projector] = [p for p in rt.projectors if p.projection.name == name]
    bus = EventBus(rt.nc)
    last = max([await bus.last_seq(s) for s in projector.projection.subjects] or [0])
    assert await wait_for_checkpoint(rt.engine, name, last, timeout), f"{name} did not reach event {last}"
