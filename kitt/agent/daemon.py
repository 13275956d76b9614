"""The agent daemon: its connection and consumers, wired to presence, control and the test runner.

- Connects with its own token (the server's auth callout admits it to its own subjects only), binds the
  two DISPATCH consumers the server made for it, registers, and heartbeats (`presence.py`).
- Pulls `dispatch.<agent>.test` (a dispatch made while it was offline is there when it comes back) and runs
  up to `capacity` tests at once (`running.py`), reporting to AGENT_IN and streaming lines to LOGS.
- Reads its control consumer: cancellations and settings from the server (`control.py`).
- SIGTERM/SIGINT: each running test is cancelled and reported, then the agent disconnects.
"""

import asyncio
import contextlib
import os
import ssl
from pathlib import Path

import nats
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from kitt.agent import presence
from kitt.agent.config import AgentConfig
from kitt.agent.control import Control
from kitt.agent.running import ExecutorFactory, RunningTests, TestRunner, default_executor
from kitt.auth import permissions
from kitt.events import pull, streams
from kitt.events.results import Hardware
from kitt.hardware import fingerprint

log = structlog.get_logger(__name__)
Subscription = JetStreamContext.PullSubscription


class AgentDaemon:
    def __init__(
        self,
        config: AgentConfig,
        home: Path,
        *,
        executors: ExecutorFactory = default_executor,
        simulated: bool = False,
        hardware: Hardware | None = None,  # a test agent's configured hardware, instead of detecting it
        config_path: Path | None = None,  # where settings from the server are saved, to survive restarts
    ) -> None:
        self.hardware = hardware
        self.home = home
        self.simulated = simulated
        self.tests = RunningTests()
        self.control = Control(config, self.tests, home / "agent-state", config_path)
        self.runner = TestRunner(lambda: self.config, home, self.tests, executors, simulated=simulated)
        self.nc: Client | None = None

    @property
    def config(self) -> AgentConfig:
        return self.control.config  # settings from the server replace it while the agent runs

    async def _connect(self) -> Client:
        async def quiet(_exc: Exception) -> None:
            return None

        tls = None
        if self.config.server.startswith(("tls://", "wss://")):
            tls = ssl.create_default_context(cafile=self.config.tls_ca)  # system CAs when unset
        return await nats.connect(
            self.config.server,
            tls=tls,
            token=self.config.token,
            name=f"kitt-agent:{self.config.name}",
            inbox_prefix=permissions.inbox_prefix(self.config.name),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=quiet,
        )

    async def _subscriptions(self, nc: Client, stop: asyncio.Event) -> tuple[Subscription, Subscription]:
        """Bind to the two consumers the server made for this agent (it may not create consumers)."""
        js = nc.jetstream()
        work, control = permissions.consumers(self.config.name)
        waited = False
        while True:
            try:
                await js.consumer_info(streams.DISPATCH, work)
                await js.consumer_info(streams.DISPATCH, control)
                return (
                    await js.pull_subscribe_bind(work, stream=streams.DISPATCH),
                    await js.pull_subscribe_bind(control, stream=streams.DISPATCH),
                )
            except nats.js.errors.NotFoundError:
                if stop.is_set():
                    raise
                if not waited:
                    log.info("agent.waiting_for_consumers", agent=self.config.name)
                    waited = True
                await asyncio.sleep(1)

    async def run(self, stop: asyncio.Event) -> None:
        (self.home / "agent-state").mkdir(parents=True, exist_ok=True)
        self.nc = nc = await self._connect()
        try:
            work, control = await self._subscriptions(nc, stop)
            hardware = self.hardware or fingerprint.detect(self.home).hardware
            await presence.register(nc, self.config, hardware, simulated=self.simulated)
            beat = presence.heartbeat(nc, lambda: self.config, self.tests.ids, stop, simulated=self.simulated)
            tasks = [asyncio.create_task(beat), asyncio.create_task(self.control.run(control, stop))]
            log.info("agent.started", agent=self.config.name, server=self.config.server)
            try:
                await self._work(nc, work, stop)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            with contextlib.suppress(Exception):
                await nc.flush(timeout=5)  # the last log lines; reports were acknowledged already
                await nc.close()
            log.info("agent.stopped", agent=self.config.name)

    async def _work(self, nc: Client, subscription: Subscription, stop: asyncio.Event) -> None:
        """Up to `capacity` tests at once (one, unless the agent is configured for more)."""
        busy: set[asyncio.Task[None]] = set()

        def free() -> int:
            return max(1, self.config.capacity - len(busy))

        async for messages in pull.batches(subscription, stop, size=free):
            for msg in messages:
                busy.add(task := asyncio.create_task(self._take(nc, msg, stop)))
                task.add_done_callback(busy.discard)
            if len(busy) >= self.config.capacity:
                await asyncio.wait(busy, return_when=asyncio.FIRST_COMPLETED)
        if busy:
            await asyncio.wait(busy)  # stopping: each cancels its test and reports it

    async def _take(self, nc: Client, msg: Msg, stop: asyncio.Event) -> None:
        await self.runner.take(nc, msg, stop)


def write_pid(home: Path) -> Path:
    pidfile = home / "agent.pid"
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(str(os.getpid()))
    return pidfile
