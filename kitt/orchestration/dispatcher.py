"""The dispatcher: a process manager from requested tests to agents' work queues.

- `agent_provisioned` → the agent's DISPATCH consumers (work and control), which its credentials let it use
  but not create, and its records stream, sized to its quota.
- `test_requested` for agent A → `dispatch_test` (A's `dispatch_requested`, which DISPATCH sources into A's
  queue: one append records the fact and queues the job), then `mark_test_dispatched`. An unknown or
  revoked agent finishes the test as failed with the reason.
- `test_cancel_requested` → a test not yet started is finished as cancelled at once; either way the agent's
  control queue gets `dispatch_cancelled`, so it skips the test or stops it.
- A dispatch JetStream gave up on (`max_deliver` reached: the agent kept taking it and never finished)
  fails its test with that reason, instead of stalling silently.
- Every few seconds, a test running longer than its timeout is finished as failed ("lost"): an agent that
  died mid-test does not leave it running forever.

Its commands take ids derived from the test, so replaying an event (after a crash before the ack) is a no-op.
"""

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import msgspec
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.auth import permissions
from kitt.commands.client import CommandFailed, send
from kitt.commands.messages import CancelDispatch, DispatchTest, FinishTest, MarkTestDispatched
from kitt.events import codec, pull, streams, subjects, types
from kitt.events.bus import EventBus
from kitt.events.ids import derived_id
from kitt.events.states import FinalStatus
from kitt.projections.models import TestRow, table

log = structlog.get_logger(__name__)
DURABLE = "dispatcher"
FILTERS = [
    subjects.of_type("test", "test_requested"),
    subjects.of_type("test", "test_cancel_requested"),
    subjects.of_type("agent", "agent_provisioned"),
]
DEFAULT_TEST_TIMEOUT_S = 30 * 60.0
SWEEP_S = 2.0
MAX_DELIVERIES = f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{streams.DISPATCH}.*"
ACK_WAIT_S = 60.0  # an agent at work says so (in_progress) every few seconds
MAX_DELIVER = 5


async def ensure_consumers(nc: Client, agent: str, capacity: int = 1) -> None:
    """The agent's two DISPATCH consumers, made by the server: an agent may use them, not make them."""
    js = nc.jetstream()
    work, control = permissions.consumers(agent)
    await _drop_legacy(js, agent)
    await js.add_consumer(
        streams.DISPATCH,
        ConsumerConfig(
            durable_name=work,
            filter_subject=subjects.dispatch_work(agent),
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_deliver=MAX_DELIVER,
            max_ack_pending=max(1, capacity),  # how many tests the agent may hold at once
        ),
    )
    await js.add_consumer(
        streams.DISPATCH,
        ConsumerConfig(
            durable_name=control,
            filter_subjects=list(subjects.dispatch_control(agent)),
            ack_policy=AckPolicy.EXPLICIT,
        ),
    )


async def _drop_legacy(js, agent: str) -> None:
    """Consumers under the old names would hold the same work-queue subjects: delete this agent's."""
    mine = (subjects.dispatch_work(agent), *subjects.dispatch_control(agent))
    for name in permissions.legacy_consumers(agent):
        try:
            info = await js.consumer_info(streams.DISPATCH, name)
        except nats.js.errors.NotFoundError:
            continue
        filters = [info.config.filter_subject or "", *(info.config.filter_subjects or [])]
        if any(f in mine for f in filters):  # `agent-X-control` may be agent X-control's work queue
            await js.delete_consumer(streams.DISPATCH, name)


async def _retry_later(msg: Msg) -> None:
    with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
        await msg.nak(delay=1)


class _MaxDeliveries(msgspec.Struct):
    stream_seq: int
    consumer: str
    deliveries: int = 0


class Dispatcher:
    def __init__(
        self,
        nc: Client,
        db: AsyncEngine,
        *,
        test_timeout_s: float = DEFAULT_TEST_TIMEOUT_S,
        limits: streams.StreamLimits = streams.DEFAULT_LIMITS,
    ) -> None:
        self.nc = nc
        self.db = db
        self.bus = EventBus(nc)
        self.test_timeout_s = test_timeout_s
        self.limits = limits

    async def run(self, stop: asyncio.Event) -> None:
        js = self.nc.jetstream()
        config = ConsumerConfig(
            durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=60, filter_subjects=FILTERS
        )
        subscription = await js.pull_subscribe("", durable=DURABLE, stream=streams.EVENTS, config=config)
        advisories = await self.nc.subscribe(MAX_DELIVERIES, cb=self._undeliverable)
        sweeper = asyncio.create_task(self._sweep(stop))
        try:
            async for messages in pull.batches(subscription, stop, size=32):
                for msg in messages:
                    await self._handle(msg)
        finally:
            sweeper.cancel()
            with contextlib.suppress(Exception):
                await advisories.unsubscribe()

    async def _undeliverable(self, msg: Msg) -> None:
        """JetStream gave up on a dispatch: fail its test with the reason and drop it from the queue."""
        try:
            advisory = msgspec.json.decode(msg.data, type=_MaxDeliveries)
            stored = await self.nc.jetstream().get_msg(streams.DISPATCH, advisory.stream_seq)
            event = codec.decode(stored.data or b"", stored.headers).event
            if not isinstance(event, types.DispatchRequested):
                return
            agent = permissions.agent_of_consumer(advisory.consumer) or advisory.consumer
            error = f"agent {agent} took the test {advisory.deliveries} times without finishing it"
            await self._finish(event.test_id, "failed", error, "max-deliveries")
            await self.nc.jetstream().delete_msg(streams.DISPATCH, advisory.stream_seq)
            log.warning("dispatcher.undeliverable", test=event.test_id, agent=agent)
        except Exception:  # an advisory for a message already gone, or a blip: nothing more to do
            log.exception("dispatcher.advisory_failed")

    async def _handle(self, msg: Msg) -> None:
        try:
            envelope = codec.decode(msg.data, msg.headers)
        except (codec.MalformedEvent, codec.UnknownEventType) as exc:
            # Not an event this dispatcher can act on: the projectors record it; never stall on it.
            log.warning("dispatcher.skipped", subject=msg.subject, reason=str(exc) or type(exc).__name__)
            await msg.ack()
            return
        event = envelope.event
        try:
            if isinstance(event, types.AgentProvisioned):
                await ensure_consumers(self.nc, envelope.aggregate_id)
                await streams.ensure_agent_records(self.nc.jetstream(), envelope.aggregate_id, self.limits)
            elif isinstance(event, types.TestRequested):
                await self._dispatch(envelope.aggregate_id, event)
            elif isinstance(event, types.TestCancelRequested):
                await self._cancel(envelope.aggregate_id, event.reason)
        except CommandFailed as exc:
            if exc.reply.code in ("internal", "unavailable"):
                await _retry_later(msg)
                return
            log.warning("dispatcher.refused", test=envelope.aggregate_id, error=exc.reply.error)
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            # NATS restarting or JetStream not ready yet: handle it again soon (its commands are idempotent).
            log.info("dispatcher.retrying", id=envelope.aggregate_id, error=str(exc) or type(exc).__name__)
            await _retry_later(msg)
            return
        await msg.ack()

    async def _finish(self, test_id: str, status: FinalStatus, error: str, key: str) -> None:
        command = FinishTest(
            command_id=derived_id(key, test_id),
            actor="dispatcher",
            test_id=test_id,
            status=status,
            error=error,
        )
        try:
            await send(self.nc, command)
        except CommandFailed as exc:
            if exc.reply.code != "conflict":  # already finished: nothing to do
                raise

    async def _dispatch(self, test_id: str, event: types.TestRequested) -> None:
        if not event.agent:
            await self._finish(test_id, "failed", "no agent was named for this test", "no-agent")
            return
        stored, _ = await self.bus.load("agent", event.agent)
        history = [s.envelope.event for s in stored]
        if not history:
            reason = f"not dispatched: unknown agent {event.agent!r} (see `kitt agents list`)"
            await self._finish(test_id, "failed", reason, "undeliverable")
            return
        # Assigned before queued: the agent may report the moment the dispatch reaches it.
        marked = MarkTestDispatched(
            command_id=derived_id("dispatched", test_id),
            actor="dispatcher",
            test_id=test_id,
            agent=event.agent,
        )
        await send(self.nc, marked)
        dispatch = DispatchTest(
            command_id=derived_id("dispatch", test_id),
            actor="dispatcher",
            agent=event.agent,
            test_id=test_id,
            spec=event.spec,
        )
        try:
            await send(self.nc, dispatch)
        except CommandFailed as exc:
            if exc.reply.code in ("internal", "unavailable"):
                raise
            await self._finish(test_id, "failed", f"not dispatched: {exc.reply.error}", "undeliverable")
            return
        log.info("dispatcher.dispatched", test=test_id, agent=event.agent)

    async def _cancel(self, test_id: str, reason: str) -> None:
        stored, _ = await self.bus.load("test", test_id)
        history = [s.envelope.event for s in stored]
        if any(isinstance(e, types.TestFinished) for e in history):
            return
        dispatched = [e for e in history if isinstance(e, types.TestDispatched)]
        if not any(isinstance(e, types.TestStarted) for e in history):
            await self._finish(test_id, "cancelled", reason or "cancelled before it started", "cancel")
        if dispatched:
            await send(
                self.nc,
                CancelDispatch(
                    command_id=derived_id("cancel-dispatch", test_id),
                    actor="dispatcher",
                    agent=dispatched[-1].agent,
                    test_id=test_id,
                    reason=reason,
                ),
            )

    async def _sweep(self, stop: asyncio.Event) -> None:
        rows_table = table(TestRow)
        while not stop.is_set():
            await asyncio.sleep(SWEEP_S)
            cutoff = datetime.now(UTC) - timedelta(seconds=self.test_timeout_s)
            try:
                async with self.db.connect() as conn:
                    rows = await conn.execute(
                        select(rows_table.c.test_id, rows_table.c.agent)
                        .where(rows_table.c.status.in_(("running", "cancelling")))
                        .where(rows_table.c.started_at < cutoff)
                    )
                    lost = [(r.test_id, r.agent) for r in rows]
                for test_id, agent in lost:
                    error = f"lost: agent {agent} reported no result within {self.test_timeout_s:g} s"
                    await self._finish(test_id, "failed", error, "timeout")
                    log.warning("dispatcher.lost", test=test_id, agent=agent)
            except Exception:  # the sweep must survive a database or NATS blip
                log.exception("dispatcher.sweep_failed")
