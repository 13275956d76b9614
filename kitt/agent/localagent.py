"""This machine's own agent, run inside the KITT runtime, so a campaign without `agent:` takes the same
dispatch path as one on a GPU server.

`kitt.auth.localagent.ensure` writes its credential and provisions it; the runtime starts it at start-up
when the credential is there, and as soon as its provisioning (or a new token) is committed. It runs real
engines through the real executor, on this machine's hardware fingerprint.
"""

import asyncio
from pathlib import Path

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from kitt.agent.config import AgentConfig
from kitt.agent.daemon import AgentDaemon
from kitt.agent.supervise import supervised
from kitt.auth.localagent import NAME, load, path
from kitt.events import codec, subjects
from kitt.orchestration.executor import Executor
from kitt.orchestration.reporting import RunReporter

log = structlog.get_logger(__name__)


class LocalAgent:
    def __init__(self, home: Path, nc: Client, agent_url: str, tls_ca: str | None = None) -> None:
        self.home = home
        self.nc = nc
        self.agent_url = agent_url
        self.tls_ca = tls_ca  # the CA a tls:// NATS is checked against (the runtime's own)
        self.task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        self._launch()
        await self.nc.subscribe(subjects.live_of_type("agent", "agent_provisioned"), cb=self._changed)
        await self.nc.subscribe(subjects.live_of_type("agent", "agent_token_rotated"), cb=self._changed)

    async def _changed(self, msg: Msg) -> None:
        try:
            if codec.decode(msg.data, msg.headers).aggregate_id == NAME:
                await self._restart()
        except (codec.MalformedEvent, codec.UnknownEventType) as exc:
            log.warning("local_agent.not_started", subject=msg.subject, reason=str(exc))

    async def _restart(self) -> None:
        if self.task is not None and not self.task.done():
            self._stop.set()
            await asyncio.wait({self.task}, timeout=15)
            self._stop = asyncio.Event()
        self._launch()

    def _launch(self) -> None:
        if not path(self.home).exists() or (self.task is not None and not self.task.done()):
            return
        spec = load(self.home)
        config = AgentConfig(
            name=NAME, server=self.agent_url, token=spec.token, heartbeat_s=5.0, tls_ca=self.tls_ca
        )
        home = self.home

        def executor(reporter: RunReporter, _agent_home: Path) -> Executor:
            return Executor(reporter, home=home)  # this machine's suites and engine settings

        daemon = AgentDaemon(config, self.home / "local-agent", executors=executor)
        self.task = asyncio.create_task(supervised(NAME, daemon.run, self._stop), name="local-agent")
        log.info("local_agent.started", agent=NAME)

    async def stop(self) -> None:
        self._stop.set()
        if self.task is not None:
            await asyncio.wait({self.task}, timeout=15)
