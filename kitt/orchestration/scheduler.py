"""KITT's scheduler: each schedule's cron slot fires one campaign, exactly once, across restarts.

Every tick it folds the schedules from EVENTS. A slot that came due within the grace period is fired: the
campaign is planned afresh from the schedule's template, created and launched under ids derived from
(schedule, slot), and only then is the slot recorded as fired, so a crash at any point re-fires into the
same campaign, never a second one. Slots that passed while no scheduler ran are reported as missed, not
run late.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from nats.aio.client import Client

from kitt.campaigns import cron
from kitt.campaigns.plan import PlanError
from kitt.commands.client import CommandFailed, send
from kitt.commands.messages import CreateCampaign, FireSchedule, LaunchCampaign, ReportMissedSlots
from kitt.events import subjects
from kitt.events import types as ev
from kitt.events.bus import EventBus
from kitt.events.ids import derived_id
from kitt.orchestration.launching import plan_campaign

log = structlog.get_logger(__name__)
GRACE = timedelta(minutes=5)
TICK_S = 5.0
ACTOR = "scheduler"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ScheduleState:
    schedule_id: str
    created: ev.ScheduleCreated
    created_at: datetime
    seen: set[datetime] = field(default_factory=set)  # slots fired or reported missed
    deleted: bool = False

    @property
    def last_slot(self) -> datetime:
        return max(self.seen, default=self.created_at)


async def schedules(bus: EventBus) -> dict[str, ScheduleState]:
    found: dict[str, ScheduleState] = {}
    async for stored in bus.read(subjects.aggregate_type_filter("schedule")):
        sid, event = stored.envelope.aggregate_id, stored.envelope.event
        if isinstance(event, ev.ScheduleCreated):
            found[sid] = ScheduleState(sid, event, stored.envelope.occurred_at)
        elif sid in found and isinstance(event, ev.ScheduleFired):
            found[sid].seen.add(event.slot)
        elif sid in found and isinstance(event, ev.ScheduleSlotsMissed):
            found[sid].seen.update(event.slots)
        elif sid in found and isinstance(event, ev.ScheduleDeleted):
            found[sid].deleted = True
    return found


class Scheduler:
    def __init__(
        self, nc: Client, home: Path, *, clock: Callable[[], datetime] = _utcnow, tick_s: float = TICK_S
    ) -> None:
        self.nc = nc
        self.bus = EventBus(nc)
        self.home = home
        self.clock = clock
        self.tick_s = tick_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # a NATS blip: the next tick tries again (slots are fired once either way)
                log.exception("scheduler.tick_failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.tick_s)
            except TimeoutError:
                pass

    async def tick(self) -> list[str]:
        """Fire what is due now; returns the campaigns created (or found created) by this tick."""
        now = self.clock()
        fired: list[str] = []
        for state in (await schedules(self.bus)).values():
            if state.deleted:
                continue
            due = cron.parse(state.created.cron).slots_between(state.last_slot, now)
            if not due:
                continue
            current = due[-1] if now - due[-1] <= GRACE else None
            missed = tuple(s for s in due if s != current)
            if missed:
                await self._missed(state, missed)
            if current is not None:
                campaign_id = await self._fire(state, current)
                if campaign_id:
                    fired.append(campaign_id)
        return fired

    async def _missed(self, state: ScheduleState, slots: tuple[datetime, ...]) -> None:
        key = f"{slots[0].isoformat()}..{slots[-1].isoformat()}"
        command = ReportMissedSlots(
            command_id=derived_id("schedule-missed", state.schedule_id, key),
            actor=ACTOR,
            schedule_id=state.schedule_id,
            slots=slots,
        )
        await send(self.nc, command)
        log.warning("scheduler.missed", schedule=state.schedule_id, slots=len(slots))

    async def _fire(self, state: ScheduleState, slot: datetime) -> str | None:
        sid, template = state.schedule_id, state.created.template
        campaign_id: str | None = None
        error: str | None = None
        try:
            planned = await plan_campaign(self.nc, self.home, state.created.campaign_name, template)
            created = await send(
                self.nc,
                CreateCampaign(
                    command_id=derived_id("schedule-campaign", sid, slot.isoformat()),
                    actor=ACTOR,
                    name=planned.name,
                    spec=planned.spec,
                    items=planned.items,
                    skipped=planned.skipped,
                ),
            )
            campaign_id = created.ids[0]
            launch = LaunchCampaign(
                command_id=derived_id("schedule-launch", sid, slot.isoformat()),
                actor=ACTOR,
                campaign_id=campaign_id,
            )
            await send(self.nc, launch)
        except (PlanError, CommandFailed) as exc:
            if isinstance(exc, CommandFailed) and exc.reply.code in ("internal", "unavailable"):
                raise
            error = str(exc)
        fire = FireSchedule(
            command_id=derived_id("schedule-fire", sid, slot.isoformat()),
            actor=ACTOR,
            schedule_id=sid,
            slot=slot,
            campaign_id=campaign_id,
            error=error,
        )
        try:
            await send(self.nc, fire)
        except CommandFailed as exc:
            if exc.reply.code != "conflict":  # already recorded as fired
                raise
        log.info("scheduler.fired", schedule=sid, slot=slot.isoformat(), campaign=campaign_id, error=error)
        return campaign_id
