"""The campaign manager: a process manager from a launched campaign to its tests, one item at a time per
agent, until the campaign completes.

- `campaign_launched` / `campaign_resumed` → the next item of each agent's lane: `dispatch_campaign_item`
  (recorded first, with a test id derived from campaign, item and attempt), then `request_test`.
- `test_finished` of an item's current attempt → `finish_campaign_item`, or `retry_campaign_item` with a
  doubling backoff while retries are left; then the lane's next item.
- A tick applies the per-item timeout (the test is cancelled, the attempt fails) and starts retries whose
  wait is over.
- `campaign_cancelled` → the running tests are cancelled; nothing more is queued; items never run are
  recorded as not run.
- Every item final → `complete_campaign`: succeeded, completed_with_failures or failed.

Its position is EVENTS itself: at start it folds every open campaign from its events, requests again the test
of each attempt in flight (the same id: a no-op when it was requested), and resumes. Its commands carry ids
derived from what they decide, so handling an event twice (after a crash before the ack) changes nothing.
"""

import asyncio
import contextlib
from datetime import UTC, datetime

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from kitt.campaigns.plan import devon_include
from kitt.commands.client import CommandFailed, send
from kitt.commands.messages import (
    CancelTest,
    CompleteCampaign,
    DispatchCampaignItem,
    FinishCampaignItem,
    RequestTest,
    RetryCampaignItem,
)
from kitt.events import codec, pull, streams, subjects
from kitt.events import types as ev
from kitt.events.bus import EventBus
from kitt.events.envelope import StoredEvent
from kitt.events.ids import derived_id
from kitt.events.states import FinalStatus
from kitt.orchestration import campaign_log
from kitt.orchestration import campaign_state as cs

log = structlog.get_logger(__name__)
DURABLE = "campaign-manager"
FILTERS = [
    subjects.aggregate_type_filter("campaign"),
    subjects.aggregate_type_filter("campaign_item"),
    subjects.of_type("test", "test_started"),  # whether it runs simulated, known before it finishes
    subjects.of_type("test", "test_finished"),
]
ACTOR = "campaign-manager"
TICK_S = 0.5


def _now() -> datetime:
    return datetime.now(UTC)


class CampaignManager:
    def __init__(self, nc: Client, *, tick_s: float = TICK_S) -> None:
        self.nc = nc
        self.bus = EventBus(nc)
        self.tick_s = tick_s
        self.campaigns: dict[str, cs.CampaignState] = {}
        self.tests: dict[str, str] = {}  # test id -> campaign id
        self.started: dict[str, bool] = {}  # test id -> ran simulated (seen as its test_started came)
        self._lock = asyncio.Lock()
        self._rebuilt_through = 0  # EVENTS' last sequence when the rebuild read it
        self._rebuilding = False

    async def run(self, stop: asyncio.Event) -> None:
        await self.rebuild()
        js = self.nc.jetstream()
        config = ConsumerConfig(
            durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=60, filter_subjects=FILTERS
        )
        try:
            await js.consumer_info(streams.EVENTS, DURABLE)
        except nats.js.errors.NotFoundError:  # new: from where the rebuild stopped, not from the start
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = self._rebuilt_through + 1
        subscription = await js.pull_subscribe("", durable=DURABLE, stream=streams.EVENTS, config=config)
        ticker = asyncio.create_task(self._tick(stop))
        try:
            # One at a time: a fetch of more waits out its deadline for the rest, and an item's next step
            # must not wait (the manager sees a few events per item; a round trip each is cheap).
            async for messages in pull.batches(subscription, stop, size=1, wait_s=1.0):
                for msg in messages:
                    await self._handle(msg)
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)

    # --- rebuilding from EVENTS -----------------------------------------------------------------------

    async def rebuild(self) -> None:
        self._rebuilt_through = await self.bus.last_seq()
        self._rebuilding = True
        try:
            await self._read_open()
        finally:
            self._rebuilding = False
        for campaign in list(self.campaigns.values()):
            try:
                for state in campaign.items.values():
                    if state.in_flight and campaign.launched:
                        await self._request(campaign, state)  # the same test id: a no-op if requested
                await self._step(campaign)
            except (CommandFailed, nats.errors.Error, TimeoutError) as exc:  # the tick tries it again
                log.warning("campaigns.resume_failed", campaign=campaign.campaign_id, error=str(exc))
        log.info("campaigns.resumed", open=len(self.campaigns), through=self._rebuilt_through)

    async def _read_open(self) -> None:
        campaign_events = [s async for s in self.bus.read(subjects.aggregate_type_filter("campaign"))]
        for stored in campaign_events:
            self._fold(stored)
        open_ids = [c.campaign_id for c in self.campaigns.values() if not c.settled]
        self.campaigns = {cid: self.campaigns[cid] for cid in open_ids}
        if not self.campaigns:
            return
        start = min(s.seq for s in campaign_events if s.envelope.aggregate_id in self.campaigns)
        async for stored in self.bus.read(subjects.aggregate_type_filter("campaign_item"), start):
            self._fold(stored)
        for campaign in [c for c in self.campaigns.values() if c.settled]:  # cancelled, every item final
            self._forget(campaign)

    def _fold(self, stored: StoredEvent) -> cs.CampaignState | None:
        envelope = stored.envelope
        event = envelope.event
        if isinstance(event, ev.CampaignCreated):
            campaign = self.campaigns.get(envelope.aggregate_id)
            if campaign is None:
                if self._rebuilding is False and stored.seq <= self._rebuilt_through:
                    return None  # the rebuild saw this campaign and found it closed
                campaign = cs.CampaignState.created(envelope.aggregate_id, event)
                self.campaigns[campaign.campaign_id] = campaign
            campaign.seq = max(campaign.seq, stored.seq)
            return campaign
        campaign_id = getattr(event, "campaign_id", None) or envelope.aggregate_id
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            return None
        campaign.apply(event, envelope.occurred_at, stored.seq)
        if isinstance(event, ev.CampaignItemDispatched):
            self.tests[event.test_id] = campaign_id
        return campaign

    # --- events as they come --------------------------------------------------------------------------

    async def _handle(self, msg: Msg) -> None:
        try:
            envelope = codec.decode(msg.data, msg.headers)
        except (codec.MalformedEvent, codec.UnknownEventType) as exc:
            log.warning("campaigns.skipped", subject=msg.subject, reason=str(exc) or type(exc).__name__)
            await msg.ack()
            return
        stored = StoredEvent(msg.metadata.sequence.stream, msg.subject, envelope)
        try:
            async with self._lock:
                await self._on(stored)
        except CommandFailed as exc:
            if exc.reply.code in ("internal", "unavailable"):
                await _retry_later(msg)
                return
            log.warning("campaigns.refused", subject=msg.subject, error=exc.reply.error)
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            log.info("campaigns.retrying", subject=msg.subject, error=str(exc) or type(exc).__name__)
            await _retry_later(msg)
            return
        await msg.ack()

    async def _on(self, stored: StoredEvent) -> None:
        event = stored.envelope.event
        if isinstance(event, ev.TestStarted):
            if stored.envelope.aggregate_id in self.tests:
                self.started[stored.envelope.aggregate_id] = event.simulated
            return
        if isinstance(event, ev.TestFinished):
            await self._test_finished(stored.envelope.aggregate_id, event)
            return
        campaign = self._fold(stored)
        if campaign is None:
            return
        await self._say(campaign, stored)
        if isinstance(event, ev.CampaignCancelled):
            await self._cancel_running(campaign, event.reason or "the campaign was cancelled")
        if campaign.completed:
            await self._notify(campaign, event)
        else:
            await self._step(campaign)
        if campaign.settled:
            self._forget(campaign)

    async def _tick(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.tick_s)
            try:
                async with self._lock:
                    for campaign in list(self.campaigns.values()):
                        await self._step(campaign)
            except Exception:  # a NATS blip: the next tick tries again
                log.exception("campaigns.tick_failed")

    # --- decisions ------------------------------------------------------------------------------------

    async def _step(self, campaign: cs.CampaignState) -> None:
        for action in cs.next_actions(campaign, _now()):
            if isinstance(action, cs.Dispatch):
                await self._dispatch(campaign, action)
            elif isinstance(action, cs.TimedOut):
                await self._timed_out(campaign, action)
            elif isinstance(action, cs.NotRun):
                await self._finish(
                    campaign, campaign.items[action.key], "cancelled", None, "not run: cancelled"
                )
            elif isinstance(action, cs.Complete):
                await self._complete(campaign, action)

    async def _dispatch(self, campaign: cs.CampaignState, action: cs.Dispatch) -> None:
        state = campaign.items[action.key]
        test_id = cs.test_id_for(campaign.campaign_id, action.key, action.attempt)
        command = DispatchCampaignItem(
            command_id=derived_id("campaign-dispatch", campaign.campaign_id, action.key, str(action.attempt)),
            actor=ACTOR,
            campaign_id=campaign.campaign_id,
            key=action.key,
            attempt=action.attempt,
            test_id=test_id,
            agent=action.agent,
        )
        reply = await send(self.nc, command)
        recorded = ev.CampaignItemDispatched(
            campaign_id=campaign.campaign_id,
            key=action.key,
            attempt=action.attempt,
            test_id=test_id,
            agent=action.agent,
        )
        campaign.apply(recorded, _now(), reply.seq)
        self.tests[test_id] = campaign.campaign_id
        await self._request(campaign, state)

    async def _request(self, campaign: cs.CampaignState, state: cs.ItemState) -> None:
        item = state.item
        spec = ev.TestSpec(
            model=item.model,
            engine=item.engine,
            suite=item.suite,
            runtime=item.runtime,
            engine_profile=item.engine_profile,
            cleanup_models=campaign.spec.cleanup,
            disk_reserve_gb=campaign.spec.disk_reserve_gb,
            devon=_devon(campaign.spec),
        )
        command = RequestTest(
            command_id=cs.test_command_id(campaign.campaign_id, item.key, state.attempt),
            actor=ACTOR,
            spec=spec,
            agent=item.agent,
            campaign_id=campaign.campaign_id,
        )
        try:
            await send(self.nc, command)
        except CommandFailed as exc:
            if exc.reply.code in ("internal", "unavailable"):
                raise
            await self._failed(campaign, state, f"not requested: {exc.reply.error}", "failed")

    async def _test_finished(self, test_id: str, event: ev.TestFinished) -> None:
        campaign = self.campaigns.get(self.tests.get(test_id, ""))
        if campaign is None:
            return
        state = campaign.items.get(campaign.tests.get(test_id, ""))
        if state is None or state.test_id != test_id or not state.in_flight:
            return  # an attempt that timed out, or one already settled
        if event.status == "succeeded":
            await self._finish(campaign, state, "succeeded", event.run_id, None)
        elif event.skipped:  # the agent could not run it (disk): recorded with the reason, not retried
            await self._finish(campaign, state, "cancelled", None, event.error, skipped=True)
        else:
            await self._failed(campaign, state, event.error or event.status, event.status, event.run_id)
        await self._step(campaign)

    async def _failed(
        self,
        campaign: cs.CampaignState,
        state: cs.ItemState,
        error: str,
        status: FinalStatus,
        run_id: str | None = None,
    ) -> None:
        if campaign.cancelled or status == "cancelled" or state.attempt > campaign.spec.max_retries:
            final: FinalStatus = "cancelled" if campaign.cancelled else "failed"
            await self._finish(campaign, state, final, run_id, error)
            return
        not_before = _now() + cs.backoff(campaign.spec, state.attempt)
        command = RetryCampaignItem(
            command_id=derived_id("campaign-retry", campaign.campaign_id, state.item.key, str(state.attempt)),
            actor=ACTOR,
            campaign_id=campaign.campaign_id,
            key=state.item.key,
            attempt=state.attempt,
            not_before=not_before,
            error=error,
        )
        reply = await send(self.nc, command)
        retrying = ev.CampaignItemRetrying(
            campaign_id=campaign.campaign_id,
            key=state.item.key,
            attempt=state.attempt,
            not_before=not_before,
            error=error,
        )
        campaign.apply(retrying, _now(), reply.seq)

    async def _finish(
        self,
        campaign: cs.CampaignState,
        state: cs.ItemState,
        status: FinalStatus,
        run_id: str | None,
        error: str | None,
        *,
        skipped: bool = False,
    ) -> None:
        attempt = state.attempt if state.in_flight else 0
        simulated = await self._simulated(state.test_id) if state.test_id else False
        command = FinishCampaignItem(
            command_id=derived_id("campaign-finish", campaign.campaign_id, state.item.key),
            actor=ACTOR,
            campaign_id=campaign.campaign_id,
            key=state.item.key,
            attempt=attempt,
            test_id=state.test_id,
            status=status,
            run_id=run_id,
            error=error,
            simulated=simulated,
            skipped=skipped,
        )
        reply = await send(self.nc, command)
        finished = ev.CampaignItemFinished(
            campaign_id=campaign.campaign_id,
            key=state.item.key,
            attempt=attempt,
            test_id=state.test_id,
            status=status,
            run_id=run_id,
            error=error,
            simulated=simulated,
            skipped=skipped,
        )
        campaign.apply(finished, _now(), reply.seq)

    async def _simulated(self, test_id: str) -> bool:
        if test_id in self.started:
            return self.started[test_id]
        stored, _ = await self.bus.load("test", test_id)  # started before a restart of this manager
        return any(
            isinstance(s.envelope.event, ev.TestStarted) and s.envelope.event.simulated for s in stored
        )

    async def _timed_out(self, campaign: cs.CampaignState, action: cs.TimedOut) -> None:
        timeout = campaign.spec.test_timeout_s
        reason = f"timed out after {timeout:g} s"
        await self._cancel_test(action.test_id, reason)
        await self._failed(campaign, campaign.items[action.key], reason, "failed")

    async def _cancel_test(self, test_id: str, reason: str) -> None:
        command = CancelTest(
            command_id=derived_id("campaign-cancel", test_id), actor=ACTOR, test_id=test_id, reason=reason
        )
        with contextlib.suppress(CommandFailed):  # finished meanwhile: nothing to stop
            await send(self.nc, command)

    async def _cancel_running(self, campaign: cs.CampaignState, reason: str) -> None:
        for state in campaign.items.values():
            if state.in_flight and state.test_id:
                await self._cancel_test(state.test_id, reason)

    async def _complete(self, campaign: cs.CampaignState, action: cs.Complete) -> None:
        command = CompleteCampaign(
            command_id=derived_id("campaign-complete", campaign.campaign_id),
            actor=ACTOR,
            campaign_id=campaign.campaign_id,
            status=action.status,
            succeeded=action.succeeded,
            failed=action.failed,
        )
        try:
            await send(self.nc, command)
        except CommandFailed as exc:
            if exc.reply.code != "conflict":  # already ended: its event is on its way
                raise

    def _forget(self, campaign: cs.CampaignState) -> None:
        self.campaigns.pop(campaign.campaign_id, None)
        for test_id in campaign.tests:
            self.tests.pop(test_id, None)
            self.started.pop(test_id, None)

    # --- what people see ---------------------------------------------------------------------------

    async def _say(self, campaign: cs.CampaignState, stored: StoredEvent) -> None:
        await campaign_log.say(self.nc, campaign, stored)

    async def _notify(self, campaign: cs.CampaignState, event: ev.Event) -> None:
        if isinstance(event, ev.CampaignCompleted):
            await campaign_log.notify(self.nc, campaign, event)


async def _retry_later(msg: Msg) -> None:
    with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
        await msg.nak(delay=1)


def _devon(spec: ev.CampaignSpec) -> ev.DevonFetch | None:
    if not spec.devon_managed:
        return None
    return ev.DevonFetch(url=spec.devon_url, include=devon_include(spec))
