"""Confirmed acks on a real nats-server: one sent while the server is down is sent again until the server,
back on the same port and store, confirms it, so the message is not redelivered after its ack_wait."""

import asyncio

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from kitt.events.acks import confirmed_ack
from kitt.runtime.nats_server import NatsServer
from tests.waiting import elapse, eventually

ACK_WAIT_S = 3


async def _pending_message(nc):
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="ACKS", subjects=["acks.>"]))
    await js.publish("acks.one", b"1")
    config = ConsumerConfig(durable_name="taker", ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S)
    subscription = await js.pull_subscribe("acks.>", durable="taker", stream="ACKS", config=config)
    [msg] = await subscription.fetch(1, timeout=5)
    return js, subscription, msg


async def _connect(server: NatsServer):
    return await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)


def _connected(nc):
    async def connected() -> bool:
        return nc.is_connected

    return connected


async def test_an_ack_is_confirmed(nats_server):
    nc = await _connect(nats_server)
    try:
        js, _, msg = await _pending_message(nc)
        assert await confirmed_ack(msg)
        info = await js.consumer_info("ACKS", "taker")
        assert (info.num_ack_pending, info.num_redelivered) == (0, 0)
    finally:
        await nc.close()


async def test_an_ack_sent_during_an_outage_lands_when_the_server_is_back(nats_server):
    nc = await _connect(nats_server)
    try:
        js, subscription, msg = await _pending_message(nc)
        await asyncio.to_thread(nats_server.stop)
        acking = asyncio.create_task(confirmed_ack(msg, within_s=30))
        await elapse(1.5)  # an outage this long (the time is the thing simulated)
        assert not acking.done()  # still trying
        await asyncio.to_thread(nats_server.start)
        assert await acking
        info = await js.consumer_info("ACKS", "taker")
        assert info.num_ack_pending == 0
        with pytest.raises(nats.errors.TimeoutError):  # past its ack_wait it is not delivered again
            await subscription.fetch(1, timeout=ACK_WAIT_S + 2)
    finally:
        await nc.close()


async def test_an_ack_the_server_never_confirms_gives_up_in_time(nats_server):
    nc = await _connect(nats_server)
    try:
        _, _, msg = await _pending_message(nc)
        await asyncio.to_thread(nats_server.stop)
        assert not await asyncio.wait_for(confirmed_ack(msg, within_s=1.5), timeout=10)
    finally:
        await asyncio.to_thread(nats_server.start)
        await eventually(_connected(nc))  # closing a client in mid-reconnect can fail on its flush
        await nc.close()


async def test_an_ack_on_a_closed_connection_gives_up_at_once(nats_server):
    nc = await _connect(nats_server)
    _, _, msg = await _pending_message(nc)
    await nc.close()
    assert not await asyncio.wait_for(confirmed_ack(msg, within_s=30), timeout=2)
