"""The ingestor: agents' reports (AGENT_IN) checked against each test's assignment, turned into commands.

An agent may report only for a test dispatched to it (and, for run facts, only for the run it said it
started); its name comes from the subject it published on, which its credentials confine it to. A report
that fails a check, does not decode, or is refused by the command it becomes, is dead-lettered with the
reason and the ingestor moves on: the refusal records the report's size and digest, never the report, and
only so many of one agent's refusals are recorded (`refusals.py`). Commands take their ids from the
report's id, so a report delivered twice is applied once. One ingestor runs per deployment: AGENT_IN is a
work queue read in stream order, where each agent may have only so many reports waiting (streams.py).

Order matters (a run's facts follow its test's start), so a report the system cannot take now (NATS or
JetStream unavailable, a cluster electing a leader) is tried again in place, holding back the reports
behind it. A report can still arrive before the one it follows, when a delivery was lost in flight and
comes back after the ack wait: a run fact whose test (or run) has not started yet waits for it, for up to
`NOT_YET_S`, and is refused only then; a run's end waits as long for the benchmarks its agent reported
before it (the report says how many), and then ends the run without them.
"""

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.commands.client import CommandFailed, send
from kitt.commands.messages import (
    Command,
    FinishRun,
    FinishTest,
    RecordBenchmark,
    RecordRunProgress,
    RefuseReport,
    RegisterAgent,
    StartRun,
    StartTest,
)
from kitt.events import pull, reports, streams, subjects, types
from kitt.events.bus import EventBus
from kitt.events.ids import derived_id
from kitt.orchestration.dispatcher import ensure_consumers
from kitt.orchestration.refusals import RefusalBudget

log = structlog.get_logger(__name__)
DURABLE = "ingestor"
BATCH = 64
COMMAND_TIMEOUT_S = 10.0
NOT_YET_S = 300.0  # longer than a lost delivery's ack wait (120 s), so the report it follows comes back
NOT_YET_DELAY_S = 2.0


class Refused(Exception):
    """A report that must not become a fact; the message is the dead letter's reason."""


class NotYet(Exception):
    """A report that came before the fact it follows (its test's or its run's start): it waits for it."""


def _commands(agent: str, report: reports.AnyReport, history: Sequence[types.Event]) -> list[Command]:
    actor = f"agent:{agent}"
    cid = derived_id("report", report.report_id)
    if isinstance(report, reports.Registered):
        return [
            RegisterAgent(
                command_id=cid,
                actor=actor,
                name=agent,
                hardware=report.hardware,
                engines=report.engines,
                kitt_version=report.kitt_version,
                capacity=report.capacity,
                simulated=report.simulated,
            )
        ]
    test_id = report.test_id
    dispatched = [e for e in history if isinstance(e, types.TestDispatched)]
    if not history:
        raise Refused(f"agent {agent} reported for unknown test {test_id}")
    if not dispatched or dispatched[-1].agent != agent:
        raise Refused(f"agent {agent} reported for test {test_id}, which is not assigned to it")
    if isinstance(report, reports.TestStartedReport):
        start = StartTest(
            command_id=cid,
            actor=actor,
            test_id=test_id,
            agent=agent,
            run_id=report.run_id,
            simulated=report.simulated,  # a test agent says so of everything it runs
        )
        return [start]
    if isinstance(report, reports.TestFinishedReport):
        if report.run_id is not None:  # none: it ended before a run began (a model it could not stage, say)
            _check_run(agent, test_id, report.run_id, history)
        return [
            FinishTest(
                command_id=cid,
                actor=actor,
                test_id=test_id,
                status=report.status,
                run_id=report.run_id,
                error=report.error,
                skipped=report.skipped,
            )
        ]
    run_id = report.run_id
    _check_run(agent, test_id, run_id, history)
    if isinstance(report, reports.RunStartedReport):
        info = msgspec.structs.replace(report.info, agent=agent)  # the subject says who, not the payload
        return [StartRun(command_id=cid, actor=actor, run_id=run_id, info=info)]
    if isinstance(report, reports.RunProgressReport):
        return [RecordRunProgress(command_id=cid, actor=actor, run_id=run_id, event=report.event)]
    if isinstance(report, reports.BenchmarkReport):
        for ref in (report.result.records, report.result.telemetry_records):
            if ref is not None and not ref.subject.startswith(subjects.records_of_run(agent, run_id)):
                raise Refused(
                    f"agent {agent} pointed run {run_id} at records it did not write ({ref.subject})"
                )
        return [RecordBenchmark(command_id=cid, actor=actor, run_id=run_id, result=report.result)]
    if isinstance(report, reports.RunFinishedReport):
        return [
            FinishRun(
                command_id=cid,
                actor=actor,
                run_id=run_id,
                status=report.status,
                finished_at=report.finished_at,
                error=report.error,
            )
        ]
    raise Refused(f"unhandled report {type(report).__name__}")


def _check_run(agent: str, test_id: str, run_id: str, history: Sequence[types.Event]) -> None:
    """A run's fact must name the run its test started; before the start it waits (NotYet)."""
    started = [e for e in history if isinstance(e, types.TestStarted)]
    if not started and not any(isinstance(e, types.TestFinished) for e in history):
        raise NotYet(f"test {test_id} has not started run {run_id} yet")
    if not started or started[-1].run_id != run_id:
        raise Refused(f"agent {agent} reported run {run_id}, which is not the run of test {test_id}")


class Ingestor:
    def __init__(
        self, nc: Client, db: AsyncEngine, *, limits: streams.StreamLimits = streams.DEFAULT_LIMITS
    ) -> None:
        self.nc = nc
        self.db = db
        self.limits = limits
        self.budget = RefusalBudget()
        self._refused_benchmarks: dict[str, int] = {}  # per run: its end need not wait for these
        self.bus = EventBus(nc)
        self.applied = 0
        self.refused = 0
        self.retries = 0  # tries of a report that met an outage and was tried again in place

    async def _consumer(self):
        js = self.nc.jetstream()
        config = ConsumerConfig(
            durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=120, max_deliver=-1
        )
        return await js.pull_subscribe(
            subjects.ALL_REPORTS, durable=DURABLE, stream=streams.AGENT_IN, config=config
        )

    async def run(self, stop: asyncio.Event) -> None:
        subscription = await self._consumer()
        async for messages in pull.batches(subscription, stop, size=BATCH):
            for msg in messages:
                if stop.is_set():
                    break  # the rest are redelivered to the next ingestor, in order
                await self._settle(msg, stop)

    async def _settle(self, msg: Msg, stop: asyncio.Event) -> None:
        """Handle one report; while the system cannot take it, the same one again, so that the reports
        behind it (its test's later facts among them) wait their turn."""
        delay = 0.2
        while True:
            try:
                if await self.handle(msg):
                    return
            except Exception:  # a bug must not take the runtime down: log it, the report comes back
                log.exception("ingestor.failed", subject=msg.subject)
                await _retry_later(msg)
                return
            self.retries += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return  # unacknowledged: JetStream delivers it to the next ingestor
            with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
                await msg.in_progress()
            delay = min(delay * 2, 5.0)

    async def handle(self, msg: Msg) -> bool:
        """Apply, refuse or postpone one report: True when it is settled, False to try it again now."""
        report: reports.AnyReport | None = None
        try:
            agent = reports.agent_of(msg.subject)
            report = reports.decode(msg.data)
            history = []
            if not isinstance(report, reports.Registered):
                stored, _ = await self.bus.load("test", report.test_id)
                history = [s.envelope.event for s in stored]
            if isinstance(report, reports.RunFinishedReport) and not _waited(msg):
                await self._benchmarks_landed(report)
            for command in _commands(agent, report, history):
                # A request in flight when NATS restarts is never answered: give up soon and let the
                # report come round again (its commands carry ids derived from it, so none applies twice).
                await send(self.nc, command, timeout=COMMAND_TIMEOUT_S)
            if isinstance(report, reports.Registered):
                # An agent provisioned before its records had a stream of their own gets one here.
                await streams.ensure_agent_records(self.nc.jetstream(), agent, self.limits)
                if report.capacity > 1:
                    await ensure_consumers(self.nc, agent, report.capacity)  # it may hold that many tests
            if isinstance(report, reports.RunFinishedReport):
                self._refused_benchmarks.pop(report.run_id, None)
            self.applied += 1
        except NotYet as exc:
            if await self._postponed(msg, str(exc)):
                return True
            refusal = f"{exc} after {NOT_YET_S:g} s"
        except (Refused, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            refusal = str(exc)
        except CommandFailed as exc:
            if exc.reply.code in ("internal", "unavailable"):
                return False  # an outage, not a bad report: try again
            if exc.reply.code == "not_found" and not isinstance(report, reports.RunStartedReport):
                if await self._postponed(msg, exc.reply.error or "its run has not started"):
                    return True  # a run fact before its run's start (see the module's docstring)
            refusal = f"{exc.reply.code}: {exc.reply.error}"
        except nats.js.errors.APIError as exc:
            if not _refusal(exc):
                log.info("ingestor.retrying", subject=msg.subject, error=str(exc))
                return False
            refusal = f"JetStream refused it: {exc.code} {exc.description}"
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            # NATS restarting or JetStream not ready yet: the report is fine, try it again shortly.
            log.info("ingestor.retrying", subject=msg.subject, error=str(exc) or type(exc).__name__)
            return False
        else:
            await msg.ack()
            return True
        try:
            await self._dead_letter(msg, refusal)
        except (CommandFailed, nats.errors.Error, TimeoutError, OSError) as exc:
            log.info("ingestor.retrying", subject=msg.subject, error=str(exc) or type(exc).__name__)
            return False
        if isinstance(report, reports.BenchmarkReport):  # its run's end need not wait for it
            self._refused_benchmarks[report.run_id] = self._refused_benchmarks.get(report.run_id, 0) + 1
        await msg.ack()
        return True

    async def _benchmarks_landed(self, report: reports.RunFinishedReport) -> None:
        """A run's end waits for the benchmarks its agent reported before it (a delivery lost in flight
        comes back after them): once finished, a run takes no more. After `NOT_YET_S` it ends without them."""
        if not report.benchmarks:
            return
        stored, _ = await self.bus.load("run", report.run_id)
        landed = sum(isinstance(s.envelope.event, types.BenchmarkCompleted) for s in stored)
        landed += self._refused_benchmarks.get(report.run_id, 0)
        if landed < report.benchmarks:
            raise NotYet(f"run {report.run_id} holds {landed} of the {report.benchmarks} benchmarks reported")

    async def _postponed(self, msg: Msg, why: str) -> bool:
        """Put back a report that came early, unless it has waited `NOT_YET_S` since it was stored."""
        if _waited(msg):
            return False
        log.info("ingestor.waiting", subject=msg.subject, why=why)
        await _retry_later(msg, NOT_YET_DELAY_S)
        return True

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        """Record the refusal as an event (the agents projector writes the dead letter, exactly once): its
        reason, the report's size and digest, never the report, and not past the agent's budget."""
        self.refused += 1
        seq = msg.metadata.sequence.stream if msg.metadata else 0
        agent = _reporter(msg.subject)
        log.warning("ingestor.refused", subject=msg.subject, reason=reason, seq=seq)
        unrecorded = self.budget.take(agent)
        if unrecorded is None:
            return  # counted: said with the agent's next refusal recorded
        if unrecorded:
            reason = f"{reason} (and {unrecorded} earlier refused reports of this agent, not recorded: over "
            reason += f"{self.budget.limit} in {self.budget.window_s:g} s)"
        command = RefuseReport(
            command_id=derived_id("refused", f"{streams.AGENT_IN}:{seq}"),
            actor="ingestor",
            agent=agent,
            subject=msg.subject,
            stream_seq=seq,
            reason=reason[:2000],
            size=len(msg.data),
            sha256=hashlib.sha256(msg.data).hexdigest(),
        )
        await send(self.nc, command, timeout=COMMAND_TIMEOUT_S)


def _waited(msg: Msg) -> bool:
    """The report has waited for what it follows as long as it may (`NOT_YET_S` since it was stored)."""
    stored = msg.metadata.timestamp if msg.metadata else None
    return stored is not None and (datetime.now(UTC) - stored).total_seconds() > NOT_YET_S


def _refusal(error: nats.js.errors.APIError) -> bool:
    """A JetStream 4xx answers the request itself (a bad value, a limit): retrying it gets the same answer,
    so the report is refused. A timeout (408) or 503 (no leader, JetStream starting) is an outage."""
    code = error.code or 0
    return 400 <= code < 500 and code != 408


def _reporter(subject: str) -> str:
    try:
        return reports.agent_of(subject)
    except ValueError:
        return "unknown"  # AGENT_IN holds only `in.<agent>.…`; this is for a stream edited by hand


async def _retry_later(msg: Msg, delay_s: float = 1.0) -> None:
    with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
        await msg.nak(delay=delay_s)
