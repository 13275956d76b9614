"""The event bus: append to EVENTS with dedup and per-aggregate optimistic concurrency; read back.

- `append` publishes one event, or several as one atomic batch (all stored or none), with a
  deterministic `Nats-Msg-Id` per event, and `Nats-Expected-Last-Subject-Sequence` on the aggregate's
  subject filter when the caller knows the version it decided on (0 = the aggregate must not exist).
- `load` reads one aggregate's events with batched direct gets: stateless, no consumer created.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import msgspec
import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from kitt.events import codec, subjects
from kitt.events.envelope import Envelope, StoredEvent
from kitt.events.ids import uuid7
from kitt.events.streams import EVENTS

log = structlog.get_logger(__name__)

WRONG_LAST_SEQUENCE = 10071
BATCH_DUPLICATE_MSG_ID = 10201
MAX_BATCH = 1000


class AppendConflict(Exception):
    """The aggregate moved on since the caller read it (optimistic concurrency)."""

    def __init__(self, subject_filter: str, expected: int, detail: str) -> None:
        super().__init__(f"{subject_filter}: expected last sequence {expected}, {detail}")
        self.expected = expected


class AppendError(Exception):
    """JetStream refused the append for another reason (stream missing, limits, bad batch).

    `refused` when JetStream answered the append itself with a 4xx (a limit, a bad message): the same
    append gets the same answer, so it is not an outage to retry."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.refused = status is not None and 400 <= status < 500 and status != 408


@dataclass(frozen=True)
class AppendResult:
    seq: int  # stream sequence of the last event appended (or already stored, for a duplicate)
    duplicate: bool


class _PubAck(msgspec.Struct):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: dict[str, str | int] | None = None


_ack_decoder = msgspec.json.Decoder(_PubAck)


class EventBus:
    def __init__(self, nc: Client, *, timeout: float = 5.0) -> None:
        self._nc = nc
        self._timeout = timeout

    async def append(
        self,
        envelopes: Sequence[Envelope],
        *,
        msg_id: str | None = None,
        expected_seq: int | None = None,
    ) -> AppendResult:
        if not envelopes:
            raise ValueError("nothing to append")
        if len(envelopes) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} events in one atomic append")
        first = envelopes[0]
        scope = subjects.aggregate_filter(first.aggregate, first.aggregate_id)
        batch_id = uuid7() if len(envelopes) > 1 else None
        ack: _PubAck | None = None
        for index, envelope in enumerate(envelopes, start=1):
            data, headers = codec.encode(envelope)
            headers["Nats-Msg-Id"] = f"{msg_id}:{index}" if msg_id else envelope.event_id
            if index == 1 and expected_seq is not None:
                headers["Nats-Expected-Last-Subject-Sequence"] = str(expected_seq)
                headers["Nats-Expected-Last-Subject-Sequence-Subject"] = scope
            if batch_id is not None:
                headers["Nats-Batch-Id"] = batch_id
                headers["Nats-Batch-Sequence"] = str(index)
                if index == len(envelopes):
                    headers["Nats-Batch-Commit"] = "1"
            subject = subjects.event(envelope.aggregate, envelope.aggregate_id, envelope.type)
            if batch_id is None or index == 1 or index == len(envelopes):
                # The first message of a batch is a request so a refused batch fails fast.
                reply = await self._request(subject, data, headers)
                if reply.data:
                    ack = _ack_decoder.decode(reply.data)
                    if ack.error:
                        return await self._refused(ack, scope, expected_seq)
            else:
                await self._nc.publish(subject, data, headers=headers)
        assert ack is not None
        return AppendResult(seq=ack.seq, duplicate=ack.duplicate)

    async def _request(self, subject: str, data: bytes, headers: dict[str, str]) -> Msg:
        try:
            return await self._nc.request(subject, data, headers=headers, timeout=self._timeout)
        except nats.errors.NoRespondersError:
            raise AppendError(f"no stream stores {subject!r}: run `kitt streams apply`") from None

    async def _refused(self, ack: _PubAck, scope: str, expected_seq: int | None) -> AppendResult:
        error = ack.error or {}
        code = error.get("err_code")
        description = str(error.get("description", error))
        if code == WRONG_LAST_SEQUENCE:
            raise AppendConflict(scope, expected_seq or 0, description)
        if code == BATCH_DUPLICATE_MSG_ID:
            # The whole batch was stored before (a retried command): report where it stands.
            return AppendResult(seq=await self.last_seq(scope), duplicate=True)
        status = error.get("code")
        raise AppendError(
            f"JetStream refused the append: {description} (code {code})",
            status=status if isinstance(status, int) else None,
        )

    async def last_seq(self, subject_filter: str = ">") -> int:
        """The sequence of the last event matching the filter; 0 when there is none."""
        request = msgspec.json.encode({"last_by_subj": subject_filter}) if subject_filter != ">" else None
        if request is None:
            reply = await self._nc.request(f"$JS.API.STREAM.INFO.{EVENTS}", b"", timeout=self._timeout)
            info = msgspec.json.decode(reply.data)
            return int(info.get("state", {}).get("last_seq", 0))
        reply = await self._nc.request(f"$JS.API.DIRECT.GET.{EVENTS}", request, timeout=self._timeout)
        if reply.headers and reply.headers.get("Status"):
            return 0
        return int(reply.headers["Nats-Sequence"]) if reply.headers else 0

    async def load(self, aggregate: str, aggregate_id: str) -> tuple[list[StoredEvent], int]:
        """One aggregate's events in order, and the sequence to expect on the next append."""
        scope = subjects.aggregate_filter(aggregate, aggregate_id)
        stored = [event async for event in self.read(scope)]
        return stored, (stored[-1].seq if stored else 0)

    async def read(
        self, subject_filter: str, start_seq: int = 1, batch: int = 256
    ) -> AsyncIterator[StoredEvent]:
        """Yield stored events matching the filter from start_seq, with batched direct gets."""
        seq = start_seq
        while True:
            inbox = self._nc.new_inbox()
            sub = await self._nc.subscribe(inbox)
            try:
                request = msgspec.json.encode({"seq": seq, "next_by_subj": subject_filter, "batch": batch})
                await self._nc.publish(f"$JS.API.DIRECT.GET.{EVENTS}", request, reply=inbox)
                more = False
                while True:
                    msg = await sub.next_msg(timeout=self._timeout)
                    headers = msg.headers or {}
                    if headers.get("Status"):
                        break
                    seq = int(headers["Nats-Sequence"])
                    more = headers.get("Nats-Num-Pending", "0") != "0"
                    try:
                        envelope = codec.decode(msg.data, headers)
                    except (codec.UnknownEventType, codec.MalformedEvent) as exc:
                        # Projectors record these as dead letters; a reader of history skips them.
                        log.warning(
                            "event skipped", seq=seq, subject=headers.get("Nats-Subject"), reason=str(exc)
                        )
                    else:
                        yield StoredEvent(seq, headers["Nats-Subject"], envelope)
                    seq += 1
            finally:
                await sub.unsubscribe()
            if not more:
                return
