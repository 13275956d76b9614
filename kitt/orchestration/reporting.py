"""Where a run's facts go. `kitt run` sends commands; an agent will report to AGENT_IN instead."""

from datetime import UTC, datetime
from typing import Protocol

from nats.aio.client import Client

from kitt.bench.recordstore import SampleWriter, StoredPublish
from kitt.commands.client import send
from kitt.commands.messages import FinishRun, RecordBenchmark, RecordRunProgress, StartRun, local_actor
from kitt.events import logs, subjects
from kitt.events.results import BenchmarkResult, RunInfo
from kitt.events.states import FinalStatus
from kitt.events.types import BenchmarkStarted, EngineReady


class RunReporter(Protocol):
    async def started(self, run_id: str, info: RunInfo) -> None: ...

    async def progress(self, run_id: str, event: EngineReady | BenchmarkStarted) -> None: ...

    async def benchmark(self, run_id: str, result: BenchmarkResult) -> None: ...

    def records(self, run_id: str, benchmark: int) -> SampleWriter:
        """Where the run's `benchmark`-th result writes its per-request records (RECORDS stream)."""
        ...

    def telemetry(self, run_id: str, benchmark: int) -> SampleWriter:
        """Where it writes its per-second engine and GPU telemetry (beside its records)."""
        ...

    async def finished(self, run_id: str, status: FinalStatus, error: str | None) -> int: ...

    async def log(self, run_id: str, source: str, line: str) -> None: ...


class CommandReporter:
    """Every fact through the command service, so it is validated and lands like any other event."""

    def __init__(self, nc: Client, *, agent: str = "local", actor: str | None = None) -> None:
        self.nc = nc
        self.agent = agent
        self.actor = actor or local_actor()

    async def started(self, run_id: str, info: RunInfo) -> None:
        await send(self.nc, StartRun(run_id=run_id, info=info, actor=self.actor))

    async def progress(self, run_id: str, event: EngineReady | BenchmarkStarted) -> None:
        await send(self.nc, RecordRunProgress(run_id=run_id, event=event, actor=self.actor))

    async def benchmark(self, run_id: str, result: BenchmarkResult) -> None:
        await send(self.nc, RecordBenchmark(run_id=run_id, result=result, actor=self.actor), timeout=120)

    def records(self, run_id: str, benchmark: int) -> SampleWriter:
        return SampleWriter(StoredPublish(self.nc), subjects.records(self.agent, run_id, benchmark))

    def telemetry(self, run_id: str, benchmark: int) -> SampleWriter:
        subject = subjects.telemetry(subjects.records(self.agent, run_id, benchmark))
        return SampleWriter(StoredPublish(self.nc), subject)

    async def finished(self, run_id: str, status: FinalStatus, error: str | None) -> int:
        reply = await send(
            self.nc,
            FinishRun(
                run_id=run_id, status=status, finished_at=datetime.now(UTC), error=error, actor=self.actor
            ),
        )
        return reply.seq

    async def log(self, run_id: str, source: str, line: str) -> None:
        # Core publish: LOGS captures it; a lost log line must never stall a benchmark.
        payload = logs.encode(logs.LogLine(run_id=run_id, source=source, line=line, at=datetime.now(UTC)))
        await self.nc.publish(subjects.log(self.agent, run_id), payload)
