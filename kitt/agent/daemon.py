"""The agent daemon: presence, its DISPATCH queue, one test at a time through the shared executor.

- Registers with its hardware fingerprint, then heartbeats on `hb.<agent>` (the HB stream keeps the last).
- Pulls `dispatch.<agent>.test` (its durable work-queue consumer; a dispatch made while it was offline is
  there when it comes back) and runs each test with the executor `kitt run` uses, reporting to AGENT_IN and
  streaming lines to LOGS. While a test runs it tells JetStream it is still working (`in_progress`), and
  acks when the test has been reported finished.
- Reads `dispatch.<agent>.cancel` (its control consumer): a cancelled test is skipped, or stopped — the
  executor stops the engine and records the run as cancelled — within about a second.
- A redelivered test that this agent had already started (it died mid-test) is reported failed, not rerun.
- SIGTERM/SIGINT: the running test is cancelled and reported, then the agent disconnects.
"""

import asyncio
import contextlib
import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import msgspec
import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from kitt import __version__
from kitt.agent import config as agent_config
from kitt.agent import models
from kitt.agent.config import AgentConfig
from kitt.agent.reporter import AgentReporter
from kitt.auth import permissions
from kitt.engines import specs
from kitt.events import codec, pull, reports, streams, subjects, types
from kitt.events.ids import uuid7
from kitt.events.results import Hardware
from kitt.hardware import fingerprint
from kitt.orchestration.executor import Executor, RunOutcome, RunRequest
from kitt.orchestration.reporting import RunReporter

log = structlog.get_logger(__name__)
PROGRESS_S = 10.0


class Heartbeat(msgspec.Struct, frozen=True, kw_only=True):
    agent: str
    running: tuple[str, ...]
    capacity: int
    simulated: bool = False


class RunsTests(Protocol):
    async def run(self, request: RunRequest) -> RunOutcome: ...


ExecutorFactory = Callable[[RunReporter, Path], RunsTests]


def _default_executor(reporter: RunReporter, home: Path) -> Executor:
    return Executor(reporter, home=home)


class AgentDaemon:
    def __init__(
        self,
        config: AgentConfig,
        home: Path,
        *,
        executors: ExecutorFactory = _default_executor,
        simulated: bool = False,
        hardware: Hardware | None = None,  # a test agent's configured hardware, instead of detecting it
        config_path: Path | None = None,  # where settings from the server are saved, to survive restarts
    ) -> None:
        self.hardware = hardware
        self.config_path = config_path
        self.config = config
        self.home = home
        self.executors = executors
        self.simulated = simulated
        self.state = home / "agent-state"
        self.cancelled: set[str] = set()
        self.running: dict[str, asyncio.Task[tuple[str, str | None]]] = {}
        self.nc: Client | None = None

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

    async def _subscriptions(self, nc: Client, stop: asyncio.Event):
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
        self.state.mkdir(parents=True, exist_ok=True)
        self.nc = nc = await self._connect()
        try:
            work, control = await self._subscriptions(nc, stop)
            await self._register(nc)
            tasks = [
                asyncio.create_task(self._heartbeat(nc, stop)),
                asyncio.create_task(self._control(control, stop)),
            ]
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

    async def _register(self, nc: Client) -> None:
        hardware = self.hardware or fingerprint.detect(self.home).hardware
        report = reports.Registered(
            hardware=hardware,
            engines=tuple(specs.ENGINES),
            kitt_version=__version__,
            capacity=self.config.capacity,
            simulated=self.simulated,
        )
        await AgentReporter(nc, self.config.name, "agent").report(report)

    async def _heartbeat(self, nc: Client, stop: asyncio.Event) -> None:
        js = nc.jetstream()
        while not stop.is_set():
            beat = Heartbeat(
                agent=self.config.name,
                running=tuple(self.running),
                capacity=self.config.capacity,
                simulated=self.simulated,
            )
            with contextlib.suppress(Exception):  # presence is best effort; the next beat will do
                await js.publish(subjects.heartbeat(self.config.name), msgspec.json.encode(beat), timeout=5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.heartbeat_s)

    async def _control(self, subscription, stop: asyncio.Event) -> None:
        async for messages in pull.batches(subscription, stop, size=16):
            for msg in messages:
                event = codec.decode(msg.data, msg.headers).event
                if isinstance(event, types.DispatchCancelled):
                    self.cancelled.add(event.test_id)
                elif isinstance(event, types.AgentSettingsChanged):
                    self._apply(event.settings)
                await msg.ack()
            for test_id in list(self.cancelled) + self._local_stops():
                task = self.running.get(test_id)
                if task is not None and not task.done():
                    log.info("agent.cancelling", test=test_id)
                    task.cancel()

    def _apply(self, settings: dict[str, object]) -> None:
        """Settings edited on the server (events) take effect now, and are saved for the next start."""
        known = {k: v for k, v in settings.items() if k in AgentConfig.__struct_fields__}
        try:
            self.config = msgspec.structs.replace(self.config, **known)
        except (TypeError, ValueError) as exc:
            log.warning("agent.settings_refused", error=str(exc))
            return
        if self.config_path is not None:
            agent_config.save(self.config, self.config_path)
        log.info("agent.settings_applied", agent=self.config.name, settings=sorted(known))

    def _local_stops(self) -> list[str]:
        """`kitt-agent test stop ID` drops a file; the test is stopped like a cancel from the server."""
        stops = []
        for marker in (self.state / "stop").glob("*") if (self.state / "stop").is_dir() else ():
            stops.append(marker.name)
            marker.unlink(missing_ok=True)
        return stops

    async def _work(self, nc: Client, subscription, stop: asyncio.Event) -> None:
        """Up to `capacity` tests at once (one, unless the agent is configured for more)."""
        busy: set[asyncio.Task[None]] = set()

        def free() -> int:
            return max(1, self.config.capacity - len(busy))

        async for messages in pull.batches(subscription, stop, size=free):
            for msg in messages:
                task = asyncio.create_task(self._take(nc, msg, stop))
                busy.add(task)
                task.add_done_callback(busy.discard)
            if len(busy) >= self.config.capacity:
                await asyncio.wait(busy, return_when=asyncio.FIRST_COMPLETED)
        if busy:
            await asyncio.wait(busy)  # stopping: each cancels its test and reports it

    async def _take(self, nc: Client, msg: Msg, stop: asyncio.Event) -> None:
        envelope = codec.decode(msg.data, msg.headers)
        event = envelope.event
        if not isinstance(event, types.DispatchRequested):
            await msg.ack()
            return
        test_id = event.test_id
        await asyncio.sleep(0)  # let the control queue land a cancel that was queued before the test
        marker = self.state / f"{test_id}.started"
        reporter = AgentReporter(nc, self.config.name, test_id)
        if test_id in self.cancelled:
            log.info("agent.skipped", test=test_id, why="cancelled before it started")
            await msg.ack()
            return
        if marker.exists():
            await reporter.report(
                reports.TestFinishedReport(
                    test_id=test_id, status="failed", error="the agent restarted while running this test"
                )
            )
            await msg.ack()
            return
        marker.write_text(envelope.event_id)
        try:
            status = await self._execute(msg, reporter, event, stop)
        except Exception as exc:  # a bug or an outage past every retry: say so, never go quiet
            log.exception("agent.test_crashed", test=test_id)
            status = "failed"
            with contextlib.suppress(Exception):
                error = f"the agent failed while running it: {type(exc).__name__}: {exc}"
                await reporter.report(reports.TestFinishedReport(test_id=test_id, status=status, error=error))
        log.info("agent.test_done", test=test_id, status=status)
        await msg.ack()

    def _request(self, run_id: str, spec: types.TestSpec, model: str) -> RunRequest:
        return RunRequest(
            run_id=run_id,
            model=model,
            engine=spec.engine,
            suite=spec.suite,
            runtime=spec.runtime,
            profile=spec.engine_profile,
            force=spec.force,
            auto_pull=spec.auto_pull,
            agent=self.config.name,
        )

    async def _execute(
        self, msg: Msg, reporter: AgentReporter, event: types.DispatchRequested, stop: asyncio.Event
    ) -> str:
        run_id = uuid7()
        await reporter.report(reports.TestStartedReport(test_id=event.test_id, run_id=run_id))
        try:
            staged = await asyncio.to_thread(models.stage, event.spec.model, self.config)
        except (models.ModelPathError, OSError) as exc:
            await reporter.report(
                reports.TestFinishedReport(test_id=event.test_id, status="failed", error=str(exc))
            )
            return "failed"
        if staged.copied_from:
            await reporter.log(run_id, "kitt", f"copied the model from {staged.copied_from} to {staged.path}")
        executor = self.executors(reporter, self.home)
        task = asyncio.create_task(self._outcome(executor, self._request(run_id, event.spec, staged.path)))
        self.running[event.test_id] = task
        stopping = asyncio.create_task(stop.wait())
        try:
            while not task.done():
                await asyncio.wait({task, stopping}, timeout=PROGRESS_S, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done() and not task.done():
                    task.cancel()  # the agent is stopping: cancel, report, then go
                    await asyncio.wait({task})
                with contextlib.suppress(Exception):
                    await msg.in_progress()
        finally:
            stopping.cancel()
            self.running.pop(event.test_id, None)
            await asyncio.to_thread(models.clean, staged)
        status, error = task.result() if not task.cancelled() else ("cancelled", "cancelled")
        await reporter.report(
            reports.TestFinishedReport(test_id=event.test_id, status=status, run_id=run_id, error=error)
        )
        return status

    @staticmethod
    async def _outcome(executor: RunsTests, request: RunRequest) -> tuple[str, str | None]:
        outcome = await executor.run(request)
        error = outcome.error
        if outcome.status == "cancelled":
            error = "cancelled"
        return outcome.status, error


def write_pid(home: Path) -> Path:
    pidfile = home / "agent.pid"
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(str(os.getpid()))
    return pidfile
