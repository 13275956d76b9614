"""Ordered delivery of a stream over a lean `Wire`: an ephemeral push consumer, read in sequence.

The consumer keeps no state worth keeping: no acks, memory storage, one replica. Its deliveries are
checked against their consumer sequence; a gap (a dropped message, a server restart) or heartbeats that stop
coming end the delivery with `DeliveryGap`, and the reader starts a new one from its own position — for a
projector, the checkpoint it committed. Flow control is answered only while the reader keeps up (`hold` /
`release`), so the server, not the reader's memory, holds a backlog. The server's other statuses end it
with what they mean (409: the consumer is gone; 503: no JetStream to answer), and so does a permissions
violation on its subscription: those are `WireError`s, retried with backoff, not gaps.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import msgspec
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from kitt.events.wire import Wire, WireError, header_fields

# stream sequence, messages the server still holds after this one, subject, header block, payload
EventHandler = Callable[[int, int, bytes, bytes, bytes], None]

_STATUS = b"NATS/1.0 "
_IDLE_OR_FLOW = b"100"


class DeliveryGap(WireError):
    """Deliveries stopped being contiguous: start again from the last position applied."""


class _ApiError(msgspec.Struct):
    description: str = ""


class _Created(msgspec.Struct):
    name: str = ""
    error: _ApiError | None = None


class OrderedDelivery:
    def __init__(
        self,
        wire: Wire,
        nc: Client,
        stream: str,
        subjects: Sequence[str],
        on_event: EventHandler,
        *,
        idle_heartbeat_s: float = 2.0,
    ) -> None:
        self._wire = wire
        self._nc = nc  # JetStream API calls (create/delete the consumer) stay on nats-py
        self._stream = stream
        self._subjects = list(subjects)
        self._on_event = on_event
        self._heartbeat_s = idle_heartbeat_s
        self._inbox = nc.new_inbox()
        self._sid: bytes | None = None
        self._consumer = ""
        self._cseq = 0
        self._seen = time.monotonic()
        self._held: list[bytes] = []
        self._holding = False
        wire.on_error = self._refused

    def _refused(self, reason: str) -> None:
        if self._inbox in reason:  # our own subscription was refused: nothing will ever arrive on it
            raise WireError(f"NATS refused the delivery: {reason}")

    async def start(self, start_seq: int) -> None:
        self._sid = self._wire.subscribe(self._inbox, self._on_message)
        await self._wire.flush()  # the server knows the subscription before the consumer delivers to it
        config = ConsumerConfig(
            deliver_subject=self._inbox,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start_seq,
            ack_policy=AckPolicy.NONE,
            max_deliver=1,
            flow_control=True,
            idle_heartbeat=self._heartbeat_s,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=300.0,
            filter_subject=self._subjects[0] if len(self._subjects) == 1 else None,
            filter_subjects=self._subjects if len(self._subjects) > 1 else None,
        )
        request = msgspec.json.encode({"stream_name": self._stream, "config": config.as_dict()})
        reply = await self._nc.request(f"$JS.API.CONSUMER.CREATE.{self._stream}", request, timeout=5.0)
        created = msgspec.json.decode(reply.data, type=_Created)
        if created.error:
            raise WireError(f"cannot create a consumer on {self._stream}: {created.error.description}")
        self._consumer = created.name
        self._seen = time.monotonic()

    def _on_message(self, subject: bytes, reply: bytes, headers: bytes, payload: bytes) -> None:
        self._seen = time.monotonic()
        if not payload and headers.startswith(_STATUS):
            self._on_status(reply, headers)
            return
        sseq, cseq, pending = ack_position(reply)
        if cseq != self._cseq + 1:
            raise DeliveryGap(f"consumer sequence jumped from {self._cseq} to {cseq}")
        self._cseq = cseq
        self._on_event(sseq, pending, subject, headers, payload)

    def _on_status(self, reply: bytes, headers: bytes) -> None:
        status_line = headers.split(b"\r\n", 1)[0][len(_STATUS) :]
        code, _, description = status_line.partition(b" ")
        if code != _IDLE_OR_FLOW:
            why = description.decode(errors="replace").strip() or "no description"
            if code == b"409":
                raise WireError(f"the consumer is gone ({why})")
            if code == b"503":
                raise WireError(f"JetStream did not answer (503 {why})")
            raise WireError(f"JetStream status {code.decode(errors='replace')} ({why})")
        if b"FlowControl" in headers:
            if self._holding:
                self._held.append(reply)
            else:
                self._wire.publish(reply.decode(), b"")
            return
        fields = header_fields(headers)
        stalled = fields.get("Nats-Consumer-Stalled")
        if stalled:
            self._wire.publish(stalled, b"")
        last = fields.get("Nats-Last-Consumer")
        if last is not None and int(last) > self._cseq:
            raise DeliveryGap(f"heartbeat says {int(last)} delivered, {self._cseq} received")

    def hold(self) -> None:
        """The reader is behind: stop answering flow control, so the server pauses deliveries."""
        self._holding = True

    def release(self) -> None:
        self._holding = False
        for reply in self._held:
            self._wire.publish(reply.decode(), b"")
        self._held.clear()

    async def watch(self) -> None:
        """Raise DeliveryGap when heartbeats stop; WireError when the connection drops."""
        while True:
            done, _ = await asyncio.wait({self._wire.closed}, timeout=self._heartbeat_s)
            if done:
                self._wire.closed.result()
                raise WireError("connection closed")
            if time.monotonic() - self._seen > 3 * self._heartbeat_s and not self._holding:
                raise DeliveryGap(f"no heartbeat for {3 * self._heartbeat_s:.0f} s")

    async def close(self) -> None:
        if self._sid is not None:
            self._wire.unsubscribe(self._sid)
        if self._consumer and self._nc.is_connected:
            with contextlib.suppress(Exception):  # ephemeral: the server drops it when idle anyway
                await self._nc.request(
                    f"$JS.API.CONSUMER.DELETE.{self._stream}.{self._consumer}", b"", timeout=2.0
                )


def ack_position(reply: bytes) -> tuple[int, int, int]:
    """(stream sequence, consumer sequence, messages pending) from a delivery's ack subject."""
    tokens = reply.split(b".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<time>.<pending>
        return int(tokens[5]), int(tokens[6]), int(tokens[8])
    if len(tokens) >= 12:  # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.…
        return int(tokens[7]), int(tokens[8]), int(tokens[10])
    raise DeliveryGap(f"not a JetStream delivery: {reply!r}")
