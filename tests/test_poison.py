"""One bad message must never stop the fleet (security round two, finding 1).

The attack: an agent's `registered` report with a capacity past 64 bits, sent over a real agent connection
through the callout. It used to be committed, then retried forever by the ingestor (the JetStream 400 it
met read as an outage, holding back every later report), and after a restart the agents projection failed
on every start. Now it is refused where it enters; a message already stored that a read model cannot hold
(an older KITT's, or one appended by hand) is dead-lettered by its projector, which goes on."""

import msgspec
import nats.js.errors
import pytest

from kitt.auth import tokens
from kitt.commands.client import CommandFailed, send
from kitt.commands.messages import IssueUserToken, RegisterAgent
from kitt.events import reports, streams, subjects
from kitt.events.bus import EventBus
from kitt.events.envelope import wrap
from kitt.events.ids import uuid7
from kitt.events.results import BenchmarkResult, Metric, RunInfo
from kitt.events.types import AgentRegistered, UserTokenIssued
from kitt.projections import admin
from kitt.projections.registry import all_projections
from kitt.runtime.embedded import Runtime
from kitt.storage import fleet, users
from kitt.storage.checkpoints import wait_for_checkpoint
from tests import factories
from tests.agenthosts import RawAgent, provision, registered, settings_for, test_status
from tests.test_agents import _request
from tests.waiting import eventually

EXACT = b'{"report":"registered","capacity":9223372036854775808}'  # the finding's report, byte for byte


async def _refusals(rt, count: int) -> list[tuple[str, str]]:
    async def enough():
        found = await fleet.refused_reports(rt.engine)
        return found if len(found) >= count else None

    return await eventually(enough, timeout=20)


async def _register(rt, name: str, capacity: int = 2) -> None:
    token = await provision(rt, name)
    agent = await RawAgent().connect(rt.agent_url, token, name)
    report = b'{"report":"registered","capacity":%d,"kitt_version":"1.0"}' % capacity
    await agent.nc.jetstream().publish(f"in.{name}.agent", report)
    found = await eventually(lambda: registered(rt, name), timeout=20)
    assert found.capacity == capacity
    await agent.nc.close()


async def test_an_unbounded_report_is_refused_and_the_fleet_keeps_working(database_url, tmp_path):
    settings = settings_for(database_url, tmp_path / "home")
    rt = Runtime(settings)
    await rt.start()
    try:
        token = await provision(rt, "evil")
        evil = await RawAgent().connect(rt.agent_url, token, "evil")
        ack = await evil.nc.jetstream().publish("in.evil.agent", EXACT)
        assert ack.seq >= 1  # AGENT_IN took it: the ingestor is what must refuse it
        [(subject, reason)] = await _refusals(rt, 1)
        assert (subject, reason) == (
            f"in.evil.{streams.REPORTS_QUEUE}",
            "Expected `int` <= 64 - at `$.capacity`",
        )
        await _register(rt, "after")  # the reports behind it were not held back
        await evil.nc.close()
    finally:
        await rt.stop()

    rt = Runtime(
        settings
    )  # a restart: every projection starts and reads everything again from its checkpoint
    await rt.start()
    try:
        await _register(rt, "newcomer", capacity=3)
        assert (
            await fleet.agent(rt.engine, "evil")
        ).status == "provisioned"  # the bad report changed nothing
        assert len(await fleet.refused_reports(rt.engine)) == 1
    finally:
        await rt.stop()


async def test_the_command_itself_is_refused_with_the_field_named(runtime):
    with pytest.raises(CommandFailed) as refused:
        await send(runtime.nc, RegisterAgent(name="x", capacity=2**63))
    assert refused.value.reply.code == "invalid"
    assert "capacity" in (refused.value.reply.error or "")
    with pytest.raises(CommandFailed) as refused:
        await send(runtime.nc, IssueUserToken(name="nul\x00", token_hash="0" * 64, role="viewer"))
    assert "NUL" in (refused.value.reply.error or "")


async def _status(rt, name: str) -> admin.ProjectionStatus:
    [found] = [s for s in await admin.status(rt.nc, rt.engine, all_projections(None)) if s.name == name]
    return found


async def test_a_stored_event_a_read_model_cannot_hold_is_dead_lettered_and_projection_goes_on(runtime):
    """Appended straight to EVENTS, as an older KITT or a hand-edited stream would have left them: an
    agent registration past the bounds (refused on decode) and a second user with the first one's token
    hash (refused by the database: the hash is unique), each in the middle of good events."""
    bus = EventBus(runtime.nc)
    first, third = tokens.new(), tokens.new()
    await send(runtime.nc, IssueUserToken(name="first", token_hash=tokens.digest(first), role="viewer"))
    clash = UserTokenIssued(
        token_hash=tokens.digest(first), role="admin"
    )  # Structs are not checked when built
    huge = AgentRegistered(name="old", capacity=2**63)
    await bus.append([wrap(clash, "second")], msg_id=uuid7())
    await bus.append([wrap(huge, "old")], msg_id=uuid7())
    issued = await send(runtime.nc, IssueUserToken(name="third", token_hash=tokens.digest(third)))
    await provision(runtime, "later")

    assert await wait_for_checkpoint(runtime.engine, "users", issued.seq)
    last_agent_event = await bus.last_seq(subjects.aggregate_type_filter("agent"))
    assert await wait_for_checkpoint(runtime.engine, "agents", last_agent_event)
    status = (await _status(runtime, "users"), await _status(runtime, "agents"))
    assert [s.dead_letters for s in status] == [1, 1]
    assert await users.live_token(runtime.engine, "third") == (tokens.digest(third), "viewer")
    assert await users.live_token(runtime.engine, "first") == (tokens.digest(first), "viewer")
    assert await users.live_token(runtime.engine, "second") is None  # the clash took nothing
    assert (await fleet.agent(runtime.engine, "later")).status == "provisioned"
    reasons = [(d.projection, d.reason) for d in await admin.dead_letters(runtime.engine)]
    assert any(r.startswith("cannot apply: IntegrityError") for p, r in reasons if p == "users"), reasons
    assert any("capacity" in r for p, r in reasons if p == "agents"), reasons


def test_every_report_field_is_bounded():
    """A report decodes only with values every read model can hold (the columns' own limits)."""
    for bad in (
        b'{"report":"registered","capacity":0}',
        b'{"report":"registered","engines":["%s"]}' % (b"x" * 65),
        b'{"report":"registered","kitt_version":"1\\u0000"}',
        b'{"report":"test_started","test_id":"","run_id":"r"}',
        b'{"report":"registered","hardware":{"fingerprint":"f","ram_mib":9223372036854775808}}',
    ):
        with pytest.raises(msgspec.ValidationError):
            reports.decode(bad)


def _just_under(limit: int, test_id: str, run_id: str) -> BenchmarkResult:
    """A result whose report is a few bytes under `limit`: its event, in a larger envelope, is over it."""
    metrics = [Metric(name=f"m{i:06d}", value=float(i)) for i in range(limit // 20)]

    def result(n: int) -> BenchmarkResult:
        return BenchmarkResult(name="throughput", kind="performance", metrics=tuple(metrics[:n]))

    def size(n: int) -> int:
        return len(reports.encode(reports.BenchmarkReport(test_id=test_id, run_id=run_id, result=result(n))))

    low, high = 0, len(metrics)  # size(low) fits under limit - 64, size(high) does not
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if size(middle) < limit - 64 else (low, middle)
    return result(low)


async def test_a_report_jetstream_refuses_is_dead_lettered_and_the_tests_next_reports_land(runtime):
    """A benchmark report within AGENT_IN's message size but, in its event's envelope, past the event log's:
    JetStream answers the append with a 400, which refuses the report (it used to be retried in place
    forever). A report past AGENT_IN's size is refused at the agent's publish."""
    token = await provision(runtime, "big")
    agent = await RawAgent().connect(runtime.agent_url, token, "big")
    test_id = await _request(runtime, "big", "/models/m.gguf")
    await test_status(runtime, test_id, "dispatched")
    run_id = uuid7()
    info = RunInfo(model="/models/m.gguf", engine="llama_cpp", started_at=factories.T0)
    result = _just_under(streams.DEFAULT_LIMITS.max_event_size, test_id, run_id)
    too_big = msgspec.structs.replace(result, metrics=(*result.metrics, *result.metrics[:50]))
    with pytest.raises(nats.js.errors.BadRequestError, match="message size exceeds maximum allowed"):
        report = reports.BenchmarkReport(test_id=test_id, run_id=run_id, result=too_big)
        await agent.nc.jetstream().publish(f"in.big.{test_id}", reports.encode(report))  # told at once
    sent = [
        reports.TestStartedReport(test_id=test_id, run_id=run_id),
        reports.RunStartedReport(test_id=test_id, run_id=run_id, info=info),
        reports.BenchmarkReport(test_id=test_id, run_id=run_id, result=result),
        reports.RunFinishedReport(
            test_id=test_id, run_id=run_id, status="succeeded", finished_at=factories.T0
        ),
        reports.TestFinishedReport(test_id=test_id, run_id=run_id, status="succeeded"),
    ]
    js = agent.nc.jetstream()
    for report in sent:
        await js.publish(f"in.big.{test_id}", reports.encode(report))
    test = await test_status(runtime, test_id, "succeeded", "failed", timeout=30)
    assert test.status == "succeeded"
    [(subject, reason)] = await _refusals(runtime, 1)
    assert (
        subject == f"in.big.{streams.REPORTS_QUEUE}"
        and "maximum" in reason
        and reason.startswith("invalid: ")
    ), reason
    await agent.nc.close()
