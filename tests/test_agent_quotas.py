"""One agent cannot fill the server's disk or hold up the fleet (security round two, finding 7).

Real parts: the embedded runtime (nats-server with the auth callout, the ingestor, SQLite) and raw agent
connections with real agent tokens. An agent's records go to a stream of its own, sized to its quota; its
reports wait on AGENT_IN under a per-agent limit; the refusals of its reports are recorded without the
report, and only so many per window."""

import nats.js.errors
import pytest
from sqlalchemy import select

from kitt.bench import recordstore
from kitt.events import reports, streams, subjects
from kitt.orchestration.refusals import RefusalBudget
from kitt.projections.models import DeadLetter, table
from kitt.runtime.embedded import Runtime
from kitt.storage import fleet
from tests.agenthosts import RawAgent, provision, registered, settings_for, token_owner
from tests.waiting import eventually

QUOTA = 4 * streams.RECORDS_CHUNK_LIMIT  # an agent's records quota in these tests: four chunks


async def _stream_exists(rt: Runtime, name: str) -> bool:
    try:
        await rt.nc.jetstream().stream_info(name)
    except nats.js.errors.NotFoundError:
        return False
    return True


async def _agent(rt: Runtime, name: str) -> RawAgent:
    token = await provision(rt, name)
    await eventually(lambda: token_owner(rt.engine, token), what=f"agent {name}'s token")
    own = streams.agent_records_stream(name)
    await eventually(lambda: _stream_exists(rt, own), what=f"the dispatcher making {own}")
    return await RawAgent().connect(rt.agent_url, token, name)


@pytest.fixture
async def rt(tmp_path):
    settings = settings_for(
        f"sqlite:///{tmp_path / 'karr.db'}",
        tmp_path / "home",
        agent_records_quota_gib=QUOTA / 1024**3,
        agent_reports_pending=10,
    )
    runtime = Runtime(settings)
    await runtime.start()
    yield runtime
    await runtime.stop()


async def test_an_agent_past_its_records_quota_is_refused_and_the_others_write_on(rt):
    flood, calm = await _agent(rt, "flood"), await _agent(rt, "calm")
    subject = subjects.agent_run_records("flood", "run-f", 0)
    writer = recordstore.SampleWriter(recordstore.StoredPublish(flood.nc), subject, chunk_bytes=16 * 1024)
    sample = {"index": 0, "e2e_ms": 1.5, "note": "x" * 200}
    with pytest.raises(recordstore.RecordsError) as refused:
        for _ in range(2000):  # 500 KB in 16 KiB chunks: it must be refused after its fourth chunk
            writer.add(sample)
            await writer.drain()
        await writer.close()
    assert f"records for {subject} were refused: this agent's records quota is used up" in str(refused.value)
    assert "KITT_AGENT_RECORDS_QUOTA_GIB" in str(refused.value)
    held = await rt.nc.jetstream().stream_info(streams.agent_records_stream("flood"))
    assert held.state.messages == 4 and held.state.bytes <= QUOTA

    mine = recordstore.SampleWriter(
        recordstore.StoredPublish(calm.nc), subjects.agent_run_records("calm", "run-c", 0), chunk_bytes=8192
    )
    samples = [{"index": i, "e2e_ms": i * 0.5} for i in range(1000)]
    mine.add_many(samples)  # 25 KB in four chunks: the whole of this agent's quota, nothing of the other's
    ref = await mine.close()
    assert ref is not None and ref.chunks == 4
    assert await recordstore.read_all(rt.nc, ref) == samples
    await flood.nc.close()
    await calm.nc.close()


async def _flood_until_stored(agent: RawAgent, wanted: int) -> int:
    """Publish reports the ingestor must refuse until `wanted` are stored; count the times AGENT_IN said
    this agent's backlog was full (each a clear refusal at once, nothing stored)."""
    js = agent.nc.jetstream()
    stored = full = 0
    while stored < wanted:
        try:
            await js.publish("in.flood.agent", b'{"report": "nonsense", "n": %d}' % stored)
            stored += 1
        except nats.js.errors.APIError as exc:
            assert streams.quota_refusal(exc), exc
            assert "maximum messages per subject exceeded" in str(exc)
            full += 1
    return full


async def test_a_flood_of_reports_waits_on_its_own_backlog_and_the_fleet_reports_on(rt):
    flood, calm = await _agent(rt, "flood"), await _agent(rt, "calm")
    full = await _flood_until_stored(flood, RefusalBudget().limit + 30)
    assert full > 0  # the flood met its limit (10 reports waiting) and was told so
    await flood.nc.publish("in.flood.a.b", b"{}")  # a longer subject would escape the per-agent limit
    [violation] = await flood.violations(1)
    assert 'publish to "in.flood.a.b"' in violation

    await calm.nc.jetstream().publish("in.calm.agent", b'{"report":"registered","capacity":2}')
    assert (await eventually(lambda: registered(rt, "calm"), timeout=30)).capacity == 2

    async def all_taken_in():
        info = await rt.nc.jetstream().consumer_info(streams.AGENT_IN, "ingestor")
        return info.num_pending == 0 and info.num_ack_pending == 0 and rt.ingestor.refused >= 130

    await eventually(all_taken_in, timeout=60, what="the ingestor through the flood")
    limit = RefusalBudget().limit
    dead = table(DeadLetter)
    query = select(dead.c.subject, dead.c.payload).where(dead.c.projection == "ingestor")

    async def recorded():
        async with rt.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return rows if len(rows) >= limit else None

    rows = await eventually(recorded, what=f"{limit} refusals recorded")
    assert len(rows) == limit  # the other 30 counted, not recorded: EVENTS does not grow with a flood
    assert rt.ingestor.budget.unrecorded("flood") == 30
    assert {subject for subject, _ in rows} == {f"in.flood.{streams.REPORTS_QUEUE}"}
    for _, payload in rows:
        assert "nonsense" not in payload and payload.endswith("; the report is not kept)"), payload
    assert (await fleet.agent(rt.engine, "flood")).status == "provisioned"
    await flood.nc.close()
    await calm.nc.close()


def test_the_refusal_budget_counts_past_its_limit_and_says_so_next_window():
    now = [0.0]
    budget = RefusalBudget(limit=2, window_s=10, clock=lambda: now[0])
    assert [budget.take("a"), budget.take("a"), budget.take("a"), budget.take("a")] == [0, 0, None, None]
    assert budget.take("b") == 0  # one agent's flood spends only its own budget
    now[0] = 10.0
    assert budget.take("a") == 2  # recorded again, saying how many went unrecorded before it
    assert budget.unrecorded("a") == 0


def test_an_agent_may_report_only_on_subjects_the_per_agent_limit_covers():
    assert subjects.agent_inbound("a") == "in.a.*"
    assert subjects.report("a", "test-1").count(".") == 2
    assert reports.agent_of(f"in.a.{streams.REPORTS_QUEUE}") == "a"
