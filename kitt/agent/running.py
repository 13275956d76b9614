"""Running the tests dispatched to an agent: one per dispatch message, through the shared executor.

Each test is reported started, its model staged (copied from the share when configured), run, reported
finished with the run's outcome, and its model copy cleaned up. While it runs the agent tells JetStream it
is still working (`in_progress`); it acks once the finish has been reported, again until JetStream confirms
the ack (events/acks.py). A redelivered test this agent had already started (it died mid-test) is reported
failed rather than run again; one it had finished (its ack was lost) is acknowledged and skipped. A message
that is not a dispatch is acknowledged and skipped.
"""

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import msgspec
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from kitt.agent import devonfetch, models
from kitt.agent.config import AgentConfig
from kitt.agent.reporter import AgentReporter
from kitt.devon.protocol import DevonError
from kitt.events import codec, reports, types
from kitt.events.acks import confirmed_ack
from kitt.events.ids import uuid7
from kitt.events.states import FinalStatus
from kitt.orchestration.executor import Executor, RunOutcome, RunRequest
from kitt.orchestration.reporting import RunReporter

log = structlog.get_logger(__name__)
PROGRESS_S = 10.0
Outcome = tuple[FinalStatus, str | None]


class RunsTests(Protocol):
    async def run(self, request: RunRequest) -> RunOutcome: ...


ExecutorFactory = Callable[[RunReporter, Path], RunsTests]


def default_executor(reporter: RunReporter, home: Path) -> Executor:
    return Executor(reporter, home=home)


class RunningTests:
    """Which tests run now (their tasks) and which were cancelled (skipped if they have not started)."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[Outcome]] = {}
        self.cancelled: set[str] = set()
        self._stopping: set[str] = set()  # tests already told to stop

    def ids(self) -> tuple[str, ...]:
        return tuple(self.tasks)

    def cancel(self, test_id: str) -> None:
        self.cancelled.add(test_id)

    def stop_cancelled(self) -> None:
        """Cancel each cancelled test's task once: a second cancel would interrupt the executor while it
        stops the engine and records the run, and leave the run unfinished."""
        for test_id in self.cancelled - self._stopping:
            task = self.tasks.get(test_id)
            if task is not None and not task.done():
                log.info("agent.cancelling", test=test_id)
                self._stopping.add(test_id)
                task.cancel()


class TestRunner:
    __test__ = False

    def __init__(
        self,
        config: Callable[[], AgentConfig],
        home: Path,
        tests: RunningTests,
        executors: ExecutorFactory = default_executor,
        *,
        simulated: bool = False,
    ) -> None:
        self.simulated = simulated
        self.config = config
        self.home = home
        self.state = home / "agent-state"
        self.tests = tests
        self.executors = executors

    async def take(self, nc: Client, msg: Msg, stop: asyncio.Event) -> None:
        try:
            envelope = codec.decode(msg.data, msg.headers)
        except (codec.MalformedEvent, codec.UnknownEventType) as exc:
            log.warning("agent.dispatch_skipped", subject=msg.subject, reason=str(exc))
            await confirmed_ack(msg)
            return
        event = envelope.event
        if not isinstance(event, types.DispatchRequested):
            await confirmed_ack(msg)
            return
        test_id = event.test_id
        await asyncio.sleep(0)  # let the control queue land a cancel that was queued before the test
        marker = self.state / f"{test_id}.started"
        done = self.state / f"{test_id}.finished"
        reporter = AgentReporter(nc, self.config().name, test_id)
        if test_id in self.tests.cancelled:
            log.info("agent.skipped", test=test_id, why="cancelled before it started")
        elif done.exists():
            log.info("agent.skipped", test=test_id, why="finished and reported already (the ack was lost)")
        elif marker.exists():
            error = "the agent restarted while running this test"
            await reporter.report(reports.TestFinishedReport(test_id=test_id, status="failed", error=error))
        else:
            marker.write_text(envelope.event_id)
            status = await self._guarded(msg, reporter, event, stop)
            done.write_text(status)
            log.info("agent.test_done", test=test_id, status=status)
        await confirmed_ack(msg)  # a lost ack would hold this slot for the consumer's whole ack_wait

    async def _guarded(
        self, msg: Msg, reporter: AgentReporter, event: types.DispatchRequested, stop: asyncio.Event
    ) -> FinalStatus:
        try:
            return await self._execute(msg, reporter, event, stop)
        except Exception as exc:  # a bug or an outage past every retry: say so, never go quiet
            log.exception("agent.test_crashed", test=event.test_id)
            with contextlib.suppress(Exception):
                error = f"the agent failed while running it: {type(exc).__name__}: {exc}"
                finished = reports.TestFinishedReport(test_id=event.test_id, status="failed", error=error)
                await reporter.report(finished)
            return "failed"

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
            agent=self.config().name,
        )

    def _short_of_disk(self, spec: types.TestSpec) -> str | None:
        if spec.disk_reserve_gb is None:
            return None
        free, where = models.free_gib(self.config(), self.home)
        if free >= spec.disk_reserve_gb:
            return None
        return f"skipped: {free:.1f} GiB free on {where}, below the reserve of {spec.disk_reserve_gb:g} GiB"

    async def _execute(
        self, msg: Msg, reporter: AgentReporter, event: types.DispatchRequested, stop: asyncio.Event
    ) -> FinalStatus:
        if (short := await asyncio.to_thread(self._short_of_disk, event.spec)) is not None:
            report = reports.TestFinishedReport(test_id=event.test_id, status="cancelled", error=short)
            await reporter.report(msgspec.structs.replace(report, skipped=True))
            return "cancelled"
        run_id = uuid7()
        started = reports.TestStartedReport(test_id=event.test_id, run_id=run_id, simulated=self.simulated)
        await reporter.report(started)
        spec = event.spec
        fetched: devonfetch.Fetched | None = None
        try:
            if spec.devon is not None:
                fetched = await devonfetch.fetch(spec, self.config())
                await reporter.log(
                    run_id, "kitt", f"fetched {spec.model} through {fetched.where}: {fetched.path}"
                )
                staged = models.Staged(path=fetched.path)
            else:
                staged = await asyncio.to_thread(models.stage, spec.model, self.config(), spec.cleanup_models)
        except (models.ModelPathError, OSError, DevonError) as exc:
            finished = reports.TestFinishedReport(test_id=event.test_id, status="failed", error=str(exc))
            await reporter.report(finished)
            return "failed"
        if staged.copied_from:
            await reporter.log(run_id, "kitt", f"copied the model from {staged.copied_from} to {staged.path}")
        executor = self.executors(reporter, self.home)
        task = asyncio.create_task(_outcome(executor, self._request(run_id, event.spec, staged.path)))
        self.tests.tasks[event.test_id] = task
        try:
            await _keep_alive(msg, task, stop)
        finally:
            self.tests.tasks.pop(event.test_id, None)
            await asyncio.to_thread(models.clean, staged)
            if fetched is not None:
                await self._release(reporter, run_id, spec, fetched)
        status, error = task.result() if not task.cancelled() else ("cancelled", "cancelled")
        await reporter.report(
            reports.TestFinishedReport(test_id=event.test_id, status=status, run_id=run_id, error=error)
        )
        return status

    async def _release(
        self, reporter: AgentReporter, run_id: str, spec: types.TestSpec, fetched: devonfetch.Fetched
    ) -> None:
        """Remove a Devon-fetched model when the test (else this agent) asks for cleanup; a failure to
        remove is logged in the run, not made the test's outcome."""
        config = self.config()
        if not (spec.cleanup_models if spec.cleanup_models is not None else config.cleanup_models):
            return
        try:
            if await devonfetch.release(spec, config, fetched):
                await reporter.log(run_id, "kitt", f"removed {spec.model} through {fetched.where}")
            else:
                kept = f"kept {spec.model}: {fetched.where} had it before this test"
                await reporter.log(run_id, "kitt", kept)
        except DevonError as exc:
            await reporter.log(run_id, "kitt", f"could not remove {spec.model}: {exc}")


async def _keep_alive(msg: Msg, task: asyncio.Task[Outcome], stop: asyncio.Event) -> None:
    """Until the test is done, telling JetStream it is in progress; the agent stopping cancels it."""
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


async def _outcome(executor: RunsTests, request: RunRequest) -> Outcome:
    outcome = await executor.run(request)
    return outcome.status, "cancelled" if outcome.status == "cancelled" else outcome.error
