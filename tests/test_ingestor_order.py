"""The ingestor keeps each test's facts in their order. A delivery lost in flight (a NATS node dying
mid-fetch) comes back only after the ack wait, behind the reports that follow it: a run's facts that arrive
before their test's start wait for it. A fact that can never follow (its test ended without a run, or it
names another run) is refused at once. The agent here is provisioned only; its reports are published by
hand on its subject, as it would publish them."""

import asyncio

import nats.errors
import pytest

from kitt.agent.config import AgentConfig
from kitt.agent.running import RunningTests, TestRunner
from kitt.agent.simulated import SimulatedExecutor, SimulatedHost
from kitt.events import reports, streams, subjects
from kitt.events.ids import uuid7
from kitt.events.results import BenchmarkResult, Metric, RunInfo
from kitt.storage import fleet, queries
from tests import factories
from tests.agenthosts import projected, provision, test_status
from tests.test_agents import _request
from tests.waiting import eventually


async def _publish(runtime, agent: str, *sent: reports.Report) -> None:
    js = runtime.nc.jetstream()
    for report in sent:
        await js.publish(f"in.{agent}.{report.test_id}", reports.encode(report))


async def _handled(runtime, count: int) -> None:
    """Until the ingestor has taken `count` reports at least once (applied, refused or put back)."""

    async def taken() -> bool:
        info = await runtime.nc.jetstream().consumer_info(streams.AGENT_IN, "ingestor")
        return info.delivered.stream_seq >= count and info.num_redelivered >= 1

    await eventually(taken, timeout=20)


async def _redeliveries(runtime) -> int:
    """Deliveries beyond each report's first (the consumer's count of them, less the stream's)."""
    info = await runtime.nc.jetstream().consumer_info(streams.AGENT_IN, "ingestor")
    return info.delivered.consumer_seq - info.delivered.stream_seq


async def test_a_runs_facts_that_arrive_before_their_tests_start_wait_for_it(runtime):
    await provision(runtime, "late")
    test_id = await _request(runtime, "late", "/models/m.gguf")
    await test_status(runtime, test_id, "dispatched")
    run_id = uuid7()
    info = RunInfo(model="/models/m.gguf", engine="llama_cpp", started_at=factories.T0)
    early = [
        reports.RunStartedReport(test_id=test_id, run_id=run_id, info=info),
        reports.RunFinishedReport(
            test_id=test_id, run_id=run_id, status="succeeded", finished_at=factories.T0
        ),
        reports.TestFinishedReport(test_id=test_id, run_id=run_id, status="succeeded"),
    ]
    await _publish(runtime, "late", *early)
    await _handled(runtime, len(early))
    assert (await fleet.test(runtime.engine, test_id)).status == "dispatched"  # none applied yet
    assert await fleet.refused_reports(runtime.engine) == []
    await _publish(runtime, "late", reports.TestStartedReport(test_id=test_id, run_id=run_id, simulated=True))
    test = await test_status(runtime, test_id, "succeeded", "failed", timeout=30)
    assert (test.status, test.run_id, test.simulated) == ("succeeded", run_id, True)

    async def run_finished():
        found = await queries.documents(runtime.engine, [run_id])
        return found if found and found[0].status == "succeeded" else None

    [doc] = await eventually(run_finished, timeout=30)
    assert doc.info.agent == "late"  # the subject's agent, not the payload's
    assert await fleet.refused_reports(runtime.engine) == []


async def test_a_runs_end_waits_for_the_benchmarks_reported_before_it(runtime):
    """The benchmark's delivery was lost in flight and comes back behind the run's end: the end waits for
    it (the report says one benchmark came before it), so the run keeps its result instead of refusing a
    benchmark for a finished run."""
    await provision(runtime, "slowbench")
    test_id = await _request(runtime, "slowbench", "/models/m.gguf")
    await test_status(runtime, test_id, "dispatched")
    run_id = uuid7()
    info = RunInfo(model="/models/m.gguf", engine="llama_cpp", started_at=factories.T0)
    result = BenchmarkResult(name="latency", kind="performance", metrics=(Metric(name="ttft_ms", value=1.0),))
    await _publish(
        runtime,
        "slowbench",
        reports.TestStartedReport(test_id=test_id, run_id=run_id),
        reports.RunStartedReport(test_id=test_id, run_id=run_id, info=info),
        reports.RunFinishedReport(
            test_id=test_id, run_id=run_id, status="succeeded", finished_at=factories.T0, benchmarks=1
        ),
    )
    await _handled(runtime, 3)  # the end was taken, and put back

    async def started():
        found = await queries.documents(runtime.engine, [run_id])
        return found[0] if found else None

    doc = await eventually(started, what="the run's start in KARR")
    assert doc.status == "running" and doc.benchmarks == ()  # its end waits
    await _publish(
        runtime, "slowbench", reports.BenchmarkReport(test_id=test_id, run_id=run_id, result=result)
    )

    async def finished():
        found = await queries.documents(runtime.engine, [run_id])
        return found[0] if found and found[0].status == "succeeded" else None

    doc = await eventually(finished, timeout=30, what="the run to end with its benchmark")
    assert [b.name for b in doc.benchmarks] == ["latency"]
    assert await fleet.refused_reports(runtime.engine) == []


async def test_a_fact_that_can_never_follow_is_refused_at_once(runtime):
    await provision(runtime, "strict")
    ended = await _request(runtime, "strict", "/models/a.gguf")
    running = await _request(runtime, "strict", "/models/b.gguf")
    await test_status(runtime, ended, "dispatched")
    await test_status(runtime, running, "dispatched")
    first, other = uuid7(), uuid7()
    await _publish(
        runtime,
        "strict",
        reports.TestFinishedReport(test_id=ended, status="failed", error="could not stage the model"),
        reports.TestStartedReport(test_id=running, run_id=first),
    )
    await test_status(runtime, ended, "failed")
    await test_status(runtime, running, "running")
    info = RunInfo(model="/models/a.gguf", engine="llama_cpp", started_at=factories.T0)
    await _publish(
        runtime,
        "strict",
        reports.RunStartedReport(test_id=ended, run_id=other, info=info),
        reports.TestFinishedReport(test_id=running, run_id=other, status="succeeded"),
    )

    async def refused():
        found = await fleet.refused_reports(runtime.engine)
        return found if len(found) >= 2 else None

    reasons = [reason for _, reason in await eventually(refused, timeout=10)]
    assert reasons == [
        f"agent strict reported run {other}, which is not the run of test {ended}",
        f"agent strict reported run {other}, which is not the run of test {running}",
    ]
    await projected(runtime, "tests")  # everything committed so far is in the read model
    assert (await fleet.test(runtime.engine, running)).status == "running"  # the wrong finish did nothing


async def test_reports_met_by_an_outage_wait_in_place_and_land_in_order(runtime):
    """With no command service answering (as while a cluster elects a leader), the ingestor tries the same
    report again rather than putting it back: nothing behind it overtakes it, and nothing is redelivered."""
    await provision(runtime, "patient")
    test_id = await _request(runtime, "patient", "/models/m.gguf")
    await test_status(runtime, test_id, "dispatched")
    before = await _redeliveries(runtime)
    service = runtime.commands
    assert service is not None
    await service.stop()
    run_id = uuid7()
    info = RunInfo(model="/models/m.gguf", engine="llama_cpp", started_at=factories.T0)
    await _publish(
        runtime,
        "patient",
        reports.TestStartedReport(test_id=test_id, run_id=run_id, simulated=True),
        reports.RunStartedReport(test_id=test_id, run_id=run_id, info=info),
        reports.RunFinishedReport(
            test_id=test_id, run_id=run_id, status="succeeded", finished_at=factories.T0
        ),
        reports.TestFinishedReport(test_id=test_id, run_id=run_id, status="succeeded"),
    )
    ingestor = runtime.ingestor
    assert ingestor is not None
    tried = ingestor.retries

    async def met_the_outage() -> bool:
        return ingestor.retries >= tried + 3

    await eventually(met_the_outage, 30, what="the first report to meet the outage three times")
    assert (await fleet.test(runtime.engine, test_id)).status == "dispatched"
    await service.start()
    test = await test_status(runtime, test_id, "succeeded", "failed", timeout=30)
    assert (test.status, test.run_id, test.simulated) == ("succeeded", run_id, True)
    assert await fleet.refused_reports(runtime.engine) == []
    assert await _redeliveries(runtime) == before


async def test_a_finished_tests_dispatch_delivered_again_is_skipped(runtime, tmp_path):
    """An ack lost with a NATS node: the agent gets a test it ran and reported again. It skips it (it used to
    report the test failed, which the ingestor then refused as already finished). The agent's runner here
    takes the real dispatch message, copied to a scratch stream so that it can be delivered twice."""
    token = await provision(runtime, "twice")
    test_id = await _request(runtime, "twice", "/models/m.gguf")
    await test_status(runtime, test_id, "dispatched")
    js = runtime.nc.jetstream()
    stored = await js.get_last_msg(streams.DISPATCH, subjects.dispatch_work("twice"))
    await js.add_stream(name="REPLAY", subjects=["replay.>"])
    headers = {k: v for k, v in (stored.headers or {}).items() if not k.startswith("Nats-")}  # JetStream's
    for _ in range(2):
        await js.publish("replay.twice", stored.data, headers=headers)
    queue = await js.pull_subscribe("replay.>", durable="replay", stream="REPLAY")
    host = SimulatedHost(name="twice", speed=0.01)
    config = AgentConfig(name="twice", server=runtime.local_agent_url, token=token)
    runner = TestRunner(
        lambda: config,
        tmp_path / "agent",
        RunningTests(),
        lambda reporter, _home: SimulatedExecutor(reporter, host, runtime.settings.home),
        simulated=True,
    )
    (tmp_path / "agent" / "agent-state").mkdir(parents=True)
    for msg in await queue.fetch(2, timeout=5):
        await runner.take(runtime.nc, msg, asyncio.Event())
    test = await test_status(runtime, test_id, "succeeded", "failed", timeout=30)
    assert test.status == "succeeded" and test.simulated
    await projected(runtime, "tests")  # the second delivery's reports, had it sent any, are in by now
    assert await fleet.refused_reports(runtime.engine) == []
    with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
        await queue.fetch(1, timeout=0.5)  # both were acknowledged
