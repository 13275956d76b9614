"""Projection leases on a real JetStream KV and both databases: of two processes projecting the same
read model, one writes; when it dies the other takes over within the lease's TTL; a clean stop hands over
at once; and KARR ends with every event applied once."""

import asyncio

from sqlalchemy import func, select

from kitt.events.bus import EventBus
from kitt.projections.karr import KarrProjection
from kitt.projections.lease import BUCKET, Lease
from kitt.projections.models import MetricRow, RunRow
from kitt.projections.runner import Projector, load_checkpoint
from tests.factories import document, run_events
from tests.waiting import eventually

TTL = 2.0


async def _count(engine, model) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model))).scalar_one()


def _instance(nc, engine, owner: str):
    projector = Projector(KarrProjection(), nc, engine)
    lease = Lease(nc, "karr", ttl_s=TTL, owner=owner)
    stop = asyncio.Event()
    task = asyncio.create_task(lease.hold(stop, projector.run))
    return projector, lease, stop, task


async def _reached(engine, seq: int) -> bool:
    return await load_checkpoint(engine, "karr") >= seq


async def test_one_process_writes_and_the_other_takes_over(nc, engine):
    bus = EventBus(nc)
    a, lease_a, stop_a, task_a = _instance(nc, engine, "a")
    await eventually(lambda: _true(lease_a.held))
    b, lease_b, stop_b, task_b = _instance(nc, engine, "b")
    first = await bus.append(run_events(document("run-1")), msg_id="run-1")
    await eventually(lambda: _reached(engine, first.seq))
    assert a.checkpoint == first.seq and not lease_b.held and b.checkpoint == 0  # b never projected
    # Only the writer reports a position (the API caches reads by it): b's would never move.
    assert a.active and not b.active
    entry = await (await nc.jetstream().key_value(BUCKET)).get("karr")
    assert entry.value == b"a"

    task_a.cancel()  # a dies without handing over: its lease ages out
    await asyncio.gather(task_a, return_exceptions=True)
    second = await bus.append(run_events(document("run-2", seed=1)), msg_id="run-2")
    await eventually(lambda: _true(lease_b.held), timeout=4 * TTL)
    await eventually(lambda: _reached(engine, second.seq), timeout=4 * TTL)
    assert b.checkpoint == second.seq

    a, lease_a, stop_a, task_a = _instance(nc, engine, "a")  # a comes back and stands by
    stop_b.set()  # a clean stop hands the lease over at once
    await asyncio.wait_for(task_b, 10)
    await eventually(lambda: _true(lease_a.held), timeout=TTL)
    third = await bus.append(run_events(document("run-3", seed=2)), msg_id="run-3")
    await eventually(lambda: _reached(engine, third.seq))
    assert a.checkpoint == third.seq
    stop_a.set()
    await asyncio.wait_for(task_a, 10)
    assert await _count(engine, RunRow) == 3 and await _count(engine, MetricRow) == 3 * 8


async def _true(value: bool) -> bool:
    return value
