"""Faults: NATS restarts under a running projector; nothing is lost or doubled (both databases)."""

import asyncio

import nats
from sqlalchemy import func, select

from kitt.events.bus import EventBus
from kitt.projections.karr import KarrProjection
from kitt.projections.models import Checkpoint, MetricRow, RunRow
from kitt.projections.runner import Projector
from kitt.runtime.nats_server import NatsServer
from tests.factories import document, run_events
from tests.waiting import eventually


async def _state(engine) -> tuple[int, int, int]:
    async with engine.connect() as conn:
        runs = (await conn.execute(select(func.count()).select_from(RunRow))).scalar_one()
        metrics = (await conn.execute(select(func.count()).select_from(MetricRow))).scalar_one()
        cp = (await conn.execute(select(Checkpoint.last_seq).where(Checkpoint.name == "karr"))).scalar()
    return runs, metrics, cp or 0


async def test_projector_survives_a_nats_restart(nats_server: NatsServer, nc, engine):
    worker = await nats.connect(nats_server.url, reconnect_time_wait=0.2, max_reconnect_attempts=-1)
    stop = asyncio.Event()
    task = asyncio.create_task(Projector(KarrProjection(), worker, engine).run(stop))
    try:
        bus = EventBus(nc)
        for i in range(20):
            await bus.append(run_events(document(f"before-{i}")))
        await eventually(lambda: _has(engine, 20))
        await nc.close()
        nats_server.stop()

        async def noticed() -> bool:  # the projector's connection has seen the server go
            return not worker.is_connected

        await eventually(noticed, 10, what="the projector's connection to notice the restart")
        nats_server.start()  # same port, same store
        publisher = await nats.connect(nats_server.url)
        try:
            bus = EventBus(publisher)
            for i in range(20):
                await bus.append(run_events(document(f"after-{i}")))
            last = await bus.last_seq()
        finally:
            await publisher.close()
        await eventually(lambda: _at(engine, last), timeout=60)
        assert (await _state(engine))[:2] == (40, 40 * 8)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await worker.close()


async def _has(engine, runs: int) -> bool:
    return (await _state(engine))[0] >= runs


async def _at(engine, seq: int) -> bool:
    return (await _state(engine))[2] >= seq
