"""Test agents run inside the KITT runtime: each is an `AgentDaemon` with a simulated executor.

`kitt agents create-test NAME ...` writes `$KITT_HOME/test-agents/NAME.json` (0600: it holds the agent's
token) and provisions the agent; the runtime starts every test agent it finds there at start-up, and a new
one as soon as its provisioning is committed. They are online whenever KITT runs.
"""

import asyncio
import os
from pathlib import Path

import msgspec
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from kitt.agent.config import AgentConfig
from kitt.agent.daemon import AgentDaemon
from kitt.agent.simulated import SimulatedExecutor, SimulatedHost
from kitt.agent.supervise import supervised
from kitt.events import codec, subjects
from kitt.orchestration.reporting import RunReporter

log = structlog.get_logger(__name__)


class TestAgentFile(msgspec.Struct, frozen=True, kw_only=True):
    __test__ = False
    host: SimulatedHost
    token: str


def folder(home: Path) -> Path:
    return home / "test-agents"


def save(home: Path, spec: TestAgentFile) -> Path:
    target = folder(home) / f"{spec.host.name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(msgspec.json.encode(spec))
    return target


class TestAgents:
    __test__ = False

    def __init__(self, home: Path, nc: Client, agent_url: str, tls_ca: str | None = None) -> None:
        self.home = home
        self.nc = nc
        self.agent_url = agent_url
        self.tls_ca = tls_ca  # the CA a tls:// NATS is checked against (the runtime's own)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()

    async def start(self) -> None:
        for path in sorted(folder(self.home).glob("*.json")):
            self._launch(path)
        await self.nc.subscribe(subjects.live_of_type("agent", "agent_provisioned"), cb=self._provisioned)

    async def _provisioned(self, msg: Msg) -> None:
        try:
            name = codec.decode(msg.data, msg.headers).aggregate_id
            path = folder(self.home) / f"{name}.json"
            if path.exists():
                self._launch(path)
        except (codec.MalformedEvent, codec.UnknownEventType, OSError, msgspec.DecodeError) as exc:
            log.warning("test_agent.not_started", subject=msg.subject, reason=str(exc))

    def _launch(self, path: Path) -> None:
        spec = msgspec.json.decode(path.read_bytes(), type=TestAgentFile)
        name = spec.host.name
        if name in self.tasks and not self.tasks[name].done():
            return
        config = AgentConfig(
            name=name, server=self.agent_url, token=spec.token, heartbeat_s=5.0, tls_ca=self.tls_ca
        )

        def executor(reporter: RunReporter, _agent_home: Path) -> SimulatedExecutor:
            return SimulatedExecutor(reporter, spec.host, self.home)  # the server's suites

        daemon = AgentDaemon(
            config,
            self.home / "test-agents" / name,
            executors=executor,
            simulated=True,
            hardware=spec.host.hardware(),
        )
        run = supervised(name, daemon.run, self._stop)
        self.tasks[name] = asyncio.create_task(run, name=f"test-agent:{name}")
        log.info("test_agent.started", agent=name)

    async def stop(self) -> None:
        self._stop.set()
        if self.tasks:
            await asyncio.wait(self.tasks.values(), timeout=15)
