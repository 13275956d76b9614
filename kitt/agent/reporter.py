"""The agent's side of a run: the executor's facts become reports on AGENT_IN, its lines go to LOGS."""

import asyncio
import time
from datetime import UTC, datetime

import nats.errors
import structlog
from nats.aio.client import Client

from kitt.bench.recordstore import SampleWriter, StoredPublish
from kitt.events import logs, reports, streams, subjects
from kitt.events.results import BenchmarkResult, RunInfo
from kitt.events.states import FinalStatus
from kitt.events.types import BenchmarkStarted, EngineReady

REPORT_PATIENCE_S = 300.0
log = structlog.get_logger(__name__)


class ReportsOverQuota(Exception):
    """The server took none of this agent's reports for the whole patience: its backlog is at its quota."""


class AgentReporter:
    """A `RunReporter` for one test on one agent. Reports are JetStream publishes: stored before acked."""

    def __init__(self, nc: Client, agent: str, test_id: str) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.agent = agent
        self.test_id = test_id
        self._publish = StoredPublish(nc, patience_s=REPORT_PATIENCE_S)
        self._benchmarks = 0  # reported for this test's run

    async def report(self, report: reports.Report) -> None:
        """Publish until JetStream has stored it: a NATS restart or a network blip delays a report, never
        loses it (the message id makes a retry that did land the first time a no-op)."""
        deadline = time.monotonic() + REPORT_PATIENCE_S
        delay = 0.2
        while True:
            try:
                await self.js.publish(
                    reports.subject(self.agent, report),
                    reports.encode(report),
                    headers={"Nats-Msg-Id": report.report_id},
                    timeout=10,
                )
                return
            except (nats.errors.Error, TimeoutError, OSError) as exc:  # incl. "temporarily unavailable"
                over = streams.quota_refusal(exc)
                if over:  # this agent's reports the server has not taken in yet are at their limit
                    log.warning("agent.reports_over_quota", test=self.test_id, error=str(exc))
                if time.monotonic() > deadline:
                    if over:
                        raise ReportsOverQuota(
                            f"agent {self.agent}: for {REPORT_PATIENCE_S:g} s the server has held as many "
                            f"of this agent's reports as its per-agent limit allows, not yet taken in: {exc}"
                        ) from exc
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def records(self, run_id: str, benchmark: int) -> SampleWriter:
        return SampleWriter(self._publish, subjects.agent_run_records(self.agent, run_id, benchmark))

    def telemetry(self, run_id: str, benchmark: int) -> SampleWriter:
        subject = subjects.telemetry(subjects.agent_run_records(self.agent, run_id, benchmark))
        return SampleWriter(self._publish, subject)

    async def started(self, run_id: str, info: RunInfo) -> None:
        await self.report(reports.RunStartedReport(test_id=self.test_id, run_id=run_id, info=info))

    async def progress(self, run_id: str, event: EngineReady | BenchmarkStarted) -> None:
        await self.report(reports.RunProgressReport(test_id=self.test_id, run_id=run_id, event=event))

    async def benchmark(self, run_id: str, result: BenchmarkResult) -> None:
        await self.report(reports.BenchmarkReport(test_id=self.test_id, run_id=run_id, result=result))
        self._benchmarks += 1

    async def finished(self, run_id: str, status: FinalStatus, error: str | None) -> int:
        await self.report(
            reports.RunFinishedReport(
                test_id=self.test_id,
                run_id=run_id,
                status=status,
                error=error,
                finished_at=datetime.now(UTC),
                benchmarks=self._benchmarks,  # the ingestor ends the run only once they have landed
            )
        )
        return 0  # the EVENTS position is the ingestor's to know, not the agent's

    async def log(self, run_id: str, source: str, line: str) -> None:
        payload = logs.encode(logs.LogLine(run_id=run_id, source=source, line=line, at=datetime.now(UTC)))
        await self.nc.publish(subjects.log(self.agent, self.test_id), payload)
