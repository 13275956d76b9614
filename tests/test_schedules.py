"""KITT's scheduler on the real runtime: a slot fires one campaign, exactly once, across a restart of the
scheduler; slots that passed while none ran are reported as missed; bad cron expressions are refused.
The scheduler's clock is given (a fake clock), everything else is real."""

from datetime import UTC, datetime, timedelta

import pytest

from kitt.campaigns import cron
from kitt.commands.client import CommandFailed, send
from kitt.commands.messages import CreateSchedule, DeleteSchedule, RevokeAgent
from kitt.events.bus import EventBus
from kitt.events.types import ScheduleFired
from kitt.orchestration.scheduler import Scheduler
from kitt.storage import campaigns as stored
from tests.campaignhelpers import ended, planned, test_agent
from tests.waiting import eventually

TEXT = "name: nightly\nagent: sim-s\nmodels: [/m/a]\nengines: [vllm]\n"
T0 = datetime(2026, 12, 2, 1, 59, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _schedule(rt, expression: str = "0 2 * * *") -> str:
    plan = await planned(rt, TEXT)
    reply = await send(
        rt.nc, CreateSchedule(name="nightly", cron=expression, template=plan.spec, campaign_name=plan.name)
    )
    return reply.ids[0]


async def _fired(rt, schedule_id: str) -> list[ScheduleFired]:
    stored_events, _ = await EventBus(rt.nc).load("schedule", schedule_id)
    return [s.envelope.event for s in stored_events if isinstance(s.envelope.event, ScheduleFired)]


async def test_a_slot_fires_once_across_a_restart_and_missed_slots_are_reported(runtime):
    await test_agent(runtime, "sim-s")
    schedule_id = await _schedule(runtime)
    clock = Clock(T0)
    # The schedule was created "now" (real time): slots from then on count. Start the fake clock there.
    created = (await EventBus(runtime.nc).load("schedule", schedule_id))[0][0].envelope.occurred_at
    clock.now = created
    first = Scheduler(runtime.nc, runtime.settings.home, clock=clock)
    assert await first.tick() == []  # nothing due yet
    slot = cron.parse("0 2 * * *").next_after(created)
    clock.now = slot + timedelta(seconds=20)
    [campaign_id] = await first.tick()
    assert await first.tick() == []  # the same scheduler, the same slot: nothing more
    restarted = Scheduler(runtime.nc, runtime.settings.home, clock=clock)
    assert await restarted.tick() == []  # a restarted scheduler: the slot is recorded as fired
    assert [(f.slot, f.campaign_id) for f in await _fired(runtime, schedule_id)] == [(slot, campaign_id)]
    detail = await ended(runtime, campaign_id)
    assert detail.campaign.status == "succeeded" and detail.campaign.name == "nightly"

    clock.now = slot + timedelta(days=3, minutes=1)  # down for three nights; back a minute after a slot
    [late] = await restarted.tick()
    assert late != campaign_id
    fired = await _fired(runtime, schedule_id)
    assert [f.slot for f in fired] == [slot, slot + timedelta(days=3)]

    async def reported():
        found = {s.schedule_id: s for s in await stored.schedules(runtime.engine)}.get(schedule_id)
        return found if found and found.missed_slots == 2 and found.last_slot != slot else None

    row = await eventually(reported)
    assert row.last_missed == slot + timedelta(days=2) and row.last_campaign_id == late
    await send(runtime.nc, DeleteSchedule(schedule_id=schedule_id))
    clock.now += timedelta(days=1)
    assert await restarted.tick() == []  # deleted: never fires again


async def test_a_slot_that_cannot_be_planned_is_recorded_with_the_reason(runtime):
    await test_agent(runtime, "sim-s")
    schedule_id = await _schedule(runtime, "* * * * *")
    await send(runtime.nc, RevokeAgent(agent_id="sim-s"))  # the agent is gone by the next slot
    clock = Clock(datetime.now(UTC) + timedelta(minutes=1))
    assert await Scheduler(runtime.nc, runtime.settings.home, clock=clock).tick() == []
    [fired] = await _fired(runtime, schedule_id)
    assert fired.campaign_id is None and "unknown agent 'sim-s'" in (fired.error or "")


@pytest.mark.parametrize(
    ("expression", "why"),
    [("every night", "5 fields"), ("61 * * * *", "outside 0-59"), ("0 0 31 2 *", "never fires")],
)
async def test_bad_cron_expressions_are_refused_and_nothing_is_created(runtime, expression, why):
    await test_agent(runtime, "sim-s")
    with pytest.raises(CommandFailed, match=why):
        await _schedule(runtime, expression)
    assert await stored.schedules(runtime.engine) == []


def test_cron_expressions():
    nightly = cron.parse("0 2 * * *")
    assert nightly.next_after(datetime(2026, 12, 1, 14, tzinfo=UTC)) == datetime(2026, 12, 2, 2, tzinfo=UTC)
    weekdays = cron.parse("*/15 9-17 * * mon-fri")
    assert weekdays.next_after(datetime(2026, 12, 5, 18, tzinfo=UTC)) == datetime(2026, 12, 7, 9, tzinfo=UTC)
    either = cron.parse("0 0 1 * sun")  # both day fields restricted: either one fires (as cron does)
    assert either.next_after(datetime(2026, 12, 1, 1, tzinfo=UTC)) == datetime(2026, 12, 6, tzinfo=UTC)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert len(cron.parse("* * * * *").slots_between(start, start + timedelta(minutes=3))) == 3
