"""The lean wire connection and ordered delivery, against a real nats-server."""

import asyncio
from pathlib import Path

import nats
import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from kitt.events.bus import EventBus
from kitt.events.delivery import DeliveryGap, OrderedDelivery
from kitt.events.streams import EVENTS
from kitt.events.wire import Address, WireError, connect
from kitt.projections.karr import KarrProjection
from kitt.projections.models import Checkpoint, MetricRow, RunRow
from kitt.projections.runner import Projector
from kitt.runtime.nats_server import NatsServer, free_port
from tests.conftest import eventually
from tests.factories import document, run_events


async def test_a_wrong_password_is_a_clear_error(tmp_path: Path):
    server = NatsServer(tmp_path / "nats", extra_config='authorization { user: kitt, password: "right" }\n')
    server.start()
    try:
        url = server.url.replace("nats://", "nats://kitt:wrong@")
        with pytest.raises(WireError, match="NATS refused: Authorization Violation"):
            await connect(Address(url))
        wire = await connect(Address(server.url.replace("nats://", "nats://kitt:right@")))
        await wire.flush()
        wire.close()
    finally:
        server.stop()


async def test_nobody_listening_is_a_clear_error():
    port = free_port("127.0.0.1")
    with pytest.raises(WireError, match=f"cannot connect to NATS at 127.0.0.1:{port}"):
        await connect(Address(f"nats://127.0.0.1:{port}"), timeout=2)


async def test_messages_split_across_reads_arrive_whole(nc):
    """Payloads larger than one socket read, headers, and an empty payload all come through intact."""
    wire = await connect(Address.of(nc))
    got: list[tuple[bytes, bytes, bytes]] = []
    wire.subscribe("wire.>", lambda subject, _reply, head, payload: got.append((subject, head, payload)))
    await wire.flush()
    big = bytes(range(256)) * 2048  # 512 KiB
    await nc.publish("wire.big", big)
    await nc.publish("wire.headed", b"body", headers={"Kitt-Event-Type": "run_started"})
    await nc.publish("wire.empty", b"")
    await nc.flush()
    await eventually(lambda: _at_least(got, 3))
    assert got[0] == (b"wire.big", b"", big)
    assert got[1][0] == b"wire.headed" and b"Kitt-Event-Type: run_started" in got[1][1]
    assert got[1][2] == b"body" and got[2] == (b"wire.empty", b"", b"")
    wire.close()


async def _at_least(items: list, n: int) -> bool:
    return len(items) >= n


async def test_ordered_delivery_reads_the_stream_in_order_from_a_position(nc):
    bus = EventBus(nc)
    for i in range(30):
        await bus.append(run_events(document(f"run-{i}")))
    wire = await connect(Address.of(nc))
    seen: list[tuple[int, int]] = []
    delivery = OrderedDelivery(wire, nc, EVENTS, ["ev.run.>"], lambda s, p, *_: seen.append((s, p)))
    await delivery.start(51)
    await eventually(lambda: _at_least(seen, 70))
    assert [s for s, _ in seen] == list(range(51, 121))
    assert seen[-1][1] == 0 and seen[0][1] == 69  # what the server still held after each one
    await delivery.close()
    wire.close()


async def test_a_gap_in_deliveries_ends_the_delivery(nc):
    """A delivery whose consumer sequence jumps, or a heartbeat that says more was sent than arrived,
    raises DeliveryGap from `watch` (the reader then starts again from its own position)."""
    for message, headers in (
        (b"{}", None),  # a delivery claiming consumer sequence 5 when 1 is due
        (b"", {"Status": "100", "Description": "Idle Heartbeat", "Nats-Last-Consumer": "7"}),
    ):
        wire = await connect(Address.of(nc))
        delivery = OrderedDelivery(wire, nc, EVENTS, ["ev.run.>"], lambda *_: None)
        await delivery.start(1)
        watch = asyncio.ensure_future(delivery.watch())
        if headers is None:
            await nc.publish(delivery._inbox, message, reply="forged.ACK.EVENTS.c.1.99.5.0.0")
        else:
            await _publish_status(nc, delivery._inbox, "100 Idle Heartbeat", "Nats-Last-Consumer: 7")
        with pytest.raises(DeliveryGap):
            await asyncio.wait_for(watch, 5)
        await delivery.close()
        wire.close()


async def _publish_status(nc, subject: str, status: str, header: str) -> None:
    # A status message as the server sends it: "NATS/1.0 <code> <text>" and no payload. ($JS.ACK reply
    # subjects are the server's own: a client may not use them, so the forged deliveries above use another.)
    raw = await connect(Address.of(nc))
    block = f"NATS/1.0 {status}\r\n{header}\r\n\r\n".encode()
    raw.publish(subject, b"", headers=block)
    await raw.flush()
    raw.close()


async def test_a_projector_starts_over_after_a_gap_and_loses_nothing(nats_server: NatsServer, nc, engine):
    worker = await nats.connect(nats_server.url)
    projector = Projector(KarrProjection(), worker, engine, batch_size=7)  # many holds and releases
    stop = asyncio.Event()
    task = asyncio.create_task(projector.run(stop))
    try:
        bus = EventBus(nc)
        for i in range(40):
            await bus.append(run_events(document(f"before-{i}")))
        await eventually(lambda: _projected(engine, 160))
        inbox = projector._delivery._inbox
        with capture_logs() as logs:
            await nc.publish(inbox, b"{}", reply="forged.ACK.EVENTS.c.1.9999.9999.0.0")  # out of order
            for i in range(40):
                await bus.append(run_events(document(f"after-{i}")))
            await eventually(lambda: _projected(engine, 320), timeout=30)
        gaps = [e for e in logs if e["event"] == "deliveries interrupted; resuming"]
        assert gaps and gaps[0]["log_level"] == "warning" and "jumped from" in gaps[0]["why"]
        assert projector._delivery._inbox != inbox  # it did start over
        async with engine.connect() as conn:
            runs = (await conn.execute(select(func.count()).select_from(RunRow))).scalar_one()
            metrics = (await conn.execute(select(func.count()).select_from(MetricRow))).scalar_one()
        assert (runs, metrics) == (80, 80 * 8)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await worker.close()


async def _projected(engine, seq: int) -> bool:
    async with engine.connect() as conn:
        row = (await conn.execute(select(Checkpoint.last_seq).where(Checkpoint.name == "karr"))).first()
    return bool(row) and row[0] >= seq


async def test_a_consumer_the_server_refuses_is_a_clear_error(nc):
    wire = await connect(Address.of(nc))
    delivery = OrderedDelivery(wire, nc, "NO_SUCH_STREAM", ["ev.>"], lambda *_: None)
    with pytest.raises(WireError, match="cannot create a consumer on NO_SUCH_STREAM: stream not found"):
        await delivery.start(1)
    wire.close()
