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
from kitt.projections.runner import Backoff, Projector
from kitt.runtime.nats_server import NatsServer, free_port
from tests.factories import document, run_events
from tests.waiting import eventually


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


async def test_a_permissions_violation_is_reported_not_fatal(tmp_path: Path):
    """A refused publish leaves the connection up (the callback hears of it); a refused delivery
    subscription ends the delivery with the server's reason instead of looping on heartbeats."""
    server = NatsServer(
        tmp_path / "nats",
        extra_config=(
            "authorization { users: [ { user: kitt, password: right, "
            'permissions: { publish: { deny: ["forbidden.>"] }, subscribe: { deny: ["_INBOX.>"] } } } ] }\n'
        ),
    )
    server.start()
    try:
        address = Address(server.url.replace("nats://", "nats://kitt:right@"))
        heard: list[str] = []
        wire = await connect(address, on_error=heard.append)
        wire.publish("forbidden.x", b"no")
        await wire.flush()
        await eventually(lambda: _at_least(heard, 1))
        assert "Permissions Violation for Publish" in heard[0] and not wire.closed.done()
        wire.close()
        nc = await nats.connect(address.url)
        wire = await connect(address)
        delivery = OrderedDelivery(wire, nc, "NONE", ["x.>"], lambda *_: None)
        delivery._sid = wire.subscribe(delivery._inbox, delivery._on_message)
        with pytest.raises(
            WireError, match="NATS refused the delivery: Permissions Violation for Subscription"
        ):
            await asyncio.wait_for(delivery.watch(), 10)
        await nc.close()
    finally:
        server.stop()


class Blackhole:
    """A TCP relay to the server that can stop passing bytes without closing anything: a half-open link."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.passing = True
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if self.passing:
                    dst.write(data)
                    await dst.drain()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


async def test_a_half_open_connection_is_noticed_by_the_client_ping(nats_server):
    hole = Blackhole(nats_server.port)
    port = await hole.start()
    wire = await connect(Address(f"nats://127.0.0.1:{port}"), ping_interval_s=0.5)
    await wire.flush()
    hole.passing = False  # nothing more arrives, nothing is closed
    with pytest.raises(WireError, match=r"stale connection: no PONG within 0\.5 s"):
        await asyncio.wait_for(wire.closed, 10)
    await hole.stop()


@pytest.mark.parametrize(
    ("status", "meaning"),
    [
        (b"NATS/1.0 409 Consumer Deleted", "the consumer is gone (Consumer Deleted)"),
        (b"NATS/1.0 503", "JetStream did not answer (503 no description)"),
        (b"NATS/1.0 408 Request Timeout", "JetStream status 408 (Request Timeout)"),
    ],
)
async def test_statuses_other_than_heartbeats_say_what_they_are(nc, status, meaning):
    """Sent through a real server to the delivery's subject (as JetStream sends them): each ends the
    delivery with its meaning, not as "not a JetStream delivery"."""
    wire = await connect(Address.of(nc))
    delivery = OrderedDelivery(wire, nc, EVENTS, ["ev.>"], lambda *_: None)
    await delivery.start(1)
    forger = await connect(Address.of(nc))
    forger.publish(delivery._inbox, b"", headers=status + b"\r\n\r\n")
    await forger.flush()
    with pytest.raises(WireError) as ended:
        await asyncio.wait_for(delivery.watch(), 10)
    assert str(ended.value) == meaning and not isinstance(ended.value, DeliveryGap)
    forger.close()
    await delivery.close()


def test_restart_pauses_grow_and_start_small_again():
    gaps = Backoff(0.05, 2.0, at_once=True)
    assert [gaps.after(0.1) for _ in range(8)] == [0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    assert gaps.after(60.0) == 0.0  # a run that lasted: the next gap restarts at once again
    outages = Backoff(0.5, 30.0)
    assert [outages.after(0.1) for _ in range(3)] == [0.5, 1.0, 2.0]
    assert outages.after(45.0) == 0.5
