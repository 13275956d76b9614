"""Projectors over a real JetStream and both databases."""

import asyncio

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kitt.events.bus import EventBus
from kitt.events.envelope import wrap
from kitt.events.results import ResultDocument
from kitt.events.types import CampaignLaunched
from kitt.projections import admin
from kitt.projections.campaigns import CampaignsProjection
from kitt.projections.karr import KarrProjection
from kitt.projections.models import BenchmarkRow, Checkpoint, DeadLetter, MetricRow, RunRow
from kitt.projections.runner import Projector, StaleCheckpoint, advance_checkpoint, load_checkpoint
from tests.factories import document, run_events
from tests.waiting import eventually


async def _count(engine, model) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model))).scalar_one()


async def _checkpoint(engine, name: str) -> int:
    async with engine.connect() as conn:
        row = (await conn.execute(select(Checkpoint.last_seq).where(Checkpoint.name == name))).first()
    return row[0] if row else 0


@pytest.fixture
async def karr(nc, engine):
    stop = asyncio.Event()
    projector = Projector(KarrProjection(), nc, engine)
    task = asyncio.create_task(projector.run(stop))
    yield projector
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_run_events_land_in_karr_with_nested_metrics(nc, engine, karr):
    bus = EventBus(nc)
    doc = document("run-a")
    result = await bus.append(run_events(doc), msg_id="import-run-a", expected_seq=0)
    await eventually(lambda: _reached(engine, result.seq))
    async with AsyncSession(engine) as session:
        run = (await session.scalars(select(RunRow))).one()
        order = (MetricRow.benchmark_position, MetricRow.position)
        metrics = (await session.scalars(select(MetricRow).order_by(*order))).all()
    assert run.status == "succeeded" and run.benchmark_count == 2
    assert run.hardware_fingerprint == "rtx4090-x86_64-64g"
    assert msgspec.json.decode(run.document, type=ResultDocument) == doc
    assert [(m.name, m.percentile) for m in metrics[:3]] == [
        ("ttft", "p50"),
        ("ttft", "p90"),
        ("ttft", "p99"),
    ]
    assert any(m.labels == '{"subject":"anatomy"}' for m in metrics)
    assert await _count(engine, BenchmarkRow) == 2


async def _reached(engine, seq: int) -> bool:
    return await _checkpoint(engine, "karr") >= seq


async def test_duplicate_publish_has_one_effect(nc, engine, karr):
    bus = EventBus(nc)
    events = run_events(document("run-dup"))
    first = await bus.append(events, msg_id="cmd-1")
    again = await bus.append(events, msg_id="cmd-1")
    assert not first.duplicate and again.duplicate
    assert again.seq == first.seq
    await eventually(lambda: _reached(engine, first.seq))
    assert await _count(engine, RunRow) == 1
    assert await _count(engine, BenchmarkRow) == 2
    assert await _count(engine, MetricRow) == 8


async def test_malformed_and_unknown_messages_do_not_stop_the_projector(nc, engine, karr):
    js = nc.jetstream()
    await js.publish(
        "ev.run.bad-1.run_started",
        b"{not json",
        headers={"Kitt-Event-Type": "run_started", "Kitt-Event-Version": "1"},
    )
    await js.publish(
        "ev.run.bad-2.future_thing",
        b"{}",
        headers={"Kitt-Event-Type": "future_thing", "Kitt-Event-Version": "1"},
    )
    await js.publish("ev.run.bad-3.run_started", b'{"type":"run_started","version":1}')
    orphan = run_events(document("orphan"))[1]  # a benchmark for a run that never started
    await EventBus(nc).append([orphan])
    good = await EventBus(nc).append(run_events(document("run-good")))
    await eventually(lambda: _reached(engine, good.seq))
    async with AsyncSession(engine) as session:
        letters = (await session.scalars(select(DeadLetter).order_by(DeadLetter.stream_seq))).all()
        cp = (await session.scalars(select(Checkpoint).where(Checkpoint.name == "karr"))).one()
    assert [d.stream_seq for d in letters] == [1, 3, 4]
    assert "not valid JSON" in letters[0].reason
    assert "missing object field `event`" in letters[1].reason
    assert "never started" in letters[2].reason
    assert cp.unknown_skipped == 1 and cp.dead_letters == 3
    assert await _count(engine, RunRow) == 1


async def test_a_second_start_of_a_run_is_a_dead_letter_and_changes_nothing(nc, engine, karr):
    bus = EventBus(nc)
    events = run_events(document("run-twice"))
    await bus.append(events)
    restart = run_events(document("run-twice", seed=9))[0]  # published without the command's checks
    again = await bus.append([restart])
    await eventually(lambda: _reached(engine, again.seq))
    async with AsyncSession(engine) as session:
        run = (await session.scalars(select(RunRow))).one()
        letter = (await session.scalars(select(DeadLetter))).one()
    assert run.benchmark_count == 2 and run.status == "succeeded"
    assert letter.stream_seq == again.seq and "already started" in letter.reason


async def test_a_change_to_an_aggregate_that_was_never_created_is_a_dead_letter(nc, engine):
    orphan = await EventBus(nc).append([wrap(CampaignLaunched(), "no-such-campaign")])
    assert await admin.catch_up(nc, engine, CampaignsProjection()) == orphan.seq
    async with AsyncSession(engine) as session:
        letter = (await session.scalars(select(DeadLetter))).one()
    assert letter.projection == "campaigns"
    assert letter.reason == "campaign_launched for campaign no-such-campaign, which does not exist"


def test_the_ack_subject_is_read_like_nats_py_reads_it():
    """The lean delivery reads the stream sequence, consumer sequence and pending count from the ack subject
    itself; both ack-subject layouts give what nats-py's parser gives."""
    from nats.aio.msg import Msg

    from kitt.events.delivery import DeliveryGap, ack_position

    for reply in (
        "$JS.ACK.EVENTS.dur.1.4821.17.1764488000000000000.93",
        "$JS.ACK.hub.ACCHASH.EVENTS.dur.1.4821.17.1764488000000000000.93.rand",
    ):
        # nats-py parses the metadata from the reply alone: no client is needed (or typed as optional)
        msg = Msg(_client=None, subject="ev.run.x.run_started", reply=reply)  # type: ignore[arg-type]
        meta = msg.metadata
        assert ack_position(reply.encode()) == (4821, 17, 93)
        assert (meta.sequence.stream, meta.sequence.consumer, meta.num_pending) == (4821, 17, 93)
    with pytest.raises(DeliveryGap, match="not a JetStream delivery"):
        ack_position(b"_INBOX.abc")


async def test_two_instances_of_a_projection_apply_each_event_once(nc, engine):
    """Two projectors of the same projection on one database (two `kitt project` processes), with batches
    of different sizes so they overlap: each batch moves the checkpoint only from where it began, so the
    loser of a race rolls back and resumes, and every event is applied once."""
    bus = EventBus(nc)
    stop = asyncio.Event()
    pair = [Projector(KarrProjection(), nc, engine, batch_size=size) for size in (3, 40)]
    tasks = [asyncio.create_task(p.run(stop)) for p in pair]
    try:
        last = 0
        for n in range(40):
            last = (await bus.append(run_events(document(f"run-{n:02d}")), msg_id=f"import-{n}")).seq
        await eventually(lambda: _reached(engine, last), timeout=60)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert await _count(engine, RunRow) == 40
    assert await _count(engine, BenchmarkRow) == 80 and await _count(engine, MetricRow) == 320
    assert await _count(engine, DeadLetter) == 0  # a second application would dead-letter a second start


async def test_a_batch_moves_the_checkpoint_only_from_where_it_began(engine):
    """The race the two instances run: A commits events up to 3; B's batch, read from 0 as well and
    reaching 40, must not commit (it would apply A's three events again): it is told to start over."""
    await load_checkpoint(engine, "karr")
    async with engine.begin() as conn:
        await advance_checkpoint(conn, "karr", 0, 3, unknown=0, dead=0)
    with pytest.raises(StaleCheckpoint):
        async with engine.begin() as conn:
            await advance_checkpoint(conn, "karr", 0, 40, unknown=0, dead=0)
    assert await _checkpoint(engine, "karr") == 3
    async with engine.begin() as conn:
        await advance_checkpoint(conn, "karr", 3, 40, unknown=0, dead=0)
    assert await _checkpoint(engine, "karr") == 40
