"""The ingestor: agents' reports (AGENT_IN) checked against each test's assignment, turned into commands.

An agent may report only for a test dispatched to it (and, for run facts, only for the run it said it
started); its name comes from the subject it published on, which its credentials confine it to. A report
that fails a check, does not decode, or is refused by the command it becomes, is dead-lettered with the
reason and the ingestor moves on. Commands take their ids from the report's id, so a report delivered
twice is applied once. One ingestor runs per deployment: AGENT_IN is a work queue read in stream order.
"""

import asyncio
import contextlib
from collections.abc import Sequence

import msgspec
import nats.errors
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

log = structlog.get_logger(__name__)
DURABLE = "ingestor"
BATCH = 64
MAX_PAYLOAD_KEPT = 64 * 1024
COMMAND_TIMEOUT_S = 10.0


class Refused(Exception):
    """A report that must not become a fact; the message is the dead letter's reason."""


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
    started = [e for e in history if isinstance(e, types.TestStarted)]
    run_id = report.run_id
    if not started or started[-1].run_id != run_id:
        raise Refused(f"agent {agent} reported run {run_id}, which is not the run of test {test_id}")
    if isinstance(report, reports.RunStartedReport):
        info = msgspec.structs.replace(report.info, agent=agent)  # the subject says who, not the payload
        return [StartRun(command_id=cid, actor=actor, run_id=run_id, info=info)]
    if isinstance(report, reports.RunProgressReport):
        return [RecordRunProgress(command_id=cid, actor=actor, run_id=run_id, event=report.event)]
    if isinstance(report, reports.BenchmarkReport):
        ref = report.result.records
        if ref is not None and not ref.subject.startswith(subjects.records_of_run(agent, run_id)):
            raise Refused(f"agent {agent} pointed run {run_id} at records it did not write ({ref.subject})")
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


class Ingestor:
    def __init__(self, nc: Client, db: AsyncEngine) -> None:
        self.nc = nc
        self.db = db
        self.bus = EventBus(nc)
        self.applied = 0
        self.refused = 0

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
                try:
                    await self.handle(msg)
                except Exception:  # a bug must not take the runtime down: log it, the report comes back
                    log.exception("ingestor.failed", subject=msg.subject)
                    await _retry_later(msg)

    async def handle(self, msg: Msg) -> None:
        try:
            agent = reports.agent_of(msg.subject)
            report = reports.decode(msg.data)
            history = []
            if not isinstance(report, reports.Registered):
                stored, _ = await self.bus.load("test", report.test_id)
                history = [s.envelope.event for s in stored]
            for command in _commands(agent, report, history):
                # A request in flight when NATS restarts is never answered: give up soon and let the
                # report come round again (its commands carry ids derived from it, so none applies twice).
                await send(self.nc, command, timeout=COMMAND_TIMEOUT_S)
            if isinstance(report, reports.Registered) and report.capacity > 1:
                await ensure_consumers(self.nc, agent, report.capacity)  # it may hold that many tests
            self.applied += 1
        except (Refused, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            refusal = str(exc)
        except CommandFailed as exc:
            if exc.reply.code in ("internal", "unavailable"):
                await _retry_later(msg)  # an outage, not a bad report: try again
                return
            refusal = f"{exc.reply.code}: {exc.reply.error}"
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            # NATS restarting or JetStream not ready yet: the report is fine, try it again shortly.
            log.info("ingestor.retrying", subject=msg.subject, error=str(exc) or type(exc).__name__)
            await _retry_later(msg)
            return
        else:
            await msg.ack()
            return
        try:
            await self._dead_letter(msg, refusal)
        except (CommandFailed, nats.errors.Error, TimeoutError, OSError) as exc:
            log.info("ingestor.retrying", subject=msg.subject, error=str(exc) or type(exc).__name__)
            await _retry_later(msg)
            return
        await msg.ack()

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        """Record the refusal as an event: the agents projector writes the dead letter, exactly once."""
        self.refused += 1
        seq = msg.metadata.sequence.stream if msg.metadata else 0
        log.warning("ingestor.refused", subject=msg.subject, reason=reason, seq=seq)
        command = RefuseReport(
            command_id=derived_id("refused", f"{streams.AGENT_IN}:{seq}"),
            actor="ingestor",
            agent=_reporter(msg.subject),
            subject=msg.subject,
            stream_seq=seq,
            reason=reason[:2000],
            payload=msg.data[:MAX_PAYLOAD_KEPT].decode(errors="replace").replace("\x00", "\ufffd"),
        )
        await send(self.nc, command, timeout=COMMAND_TIMEOUT_S)


def _reporter(subject: str) -> str:
    try:
        return reports.agent_of(subject)
    except ValueError:
        return "unknown"  # AGENT_IN holds only `in.<agent>.…`; this is for a stream edited by hand


async def _retry_later(msg: Msg) -> None:
    with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
        await msg.nak(delay=1)
