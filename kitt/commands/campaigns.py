"""Decisions about campaigns, their items and schedules (pure, like `decide`)."""

from collections.abc import Sequence

from kitt.campaigns import cron
from kitt.commands import messages as m
from kitt.commands.decide import Rejected, _last, _need, _new
from kitt.events import types as ev
from kitt.events.campaigns import item_id

MAX_ITEMS = 2000  # the plan travels in CampaignCreated (1 MiB at most): far more than a night's work
_ENDED = (ev.CampaignCancelled, ev.CampaignCompleted)


def create_campaign(cmd: m.CreateCampaign, campaign_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _new(history, "campaign", campaign_id)
    spec = cmd.spec
    if not cmd.name.strip():
        raise Rejected("invalid", "a campaign needs a name")
    for field, values in (("models", spec.models), ("engines", spec.engines), ("suites", spec.suites)):
        if not values:
            raise Rejected("invalid", f"campaign spec: `{field}` must list at least one entry")
    if not cmd.items:
        why = "; ".join(sorted({s.reason for s in cmd.skipped})[:3]) or "no model matched"
        raise Rejected("invalid", f"the campaign's matrix is empty: nothing would run ({why})")
    if len(cmd.items) > MAX_ITEMS:
        raise Rejected("invalid", f"{len(cmd.items)} items: a campaign holds at most {MAX_ITEMS}")
    keys = [item.key for item in cmd.items]
    if len(set(keys)) != len(keys):
        raise Rejected("invalid", "two items of the plan share a key")
    return [ev.CampaignCreated(name=cmd.name.strip(), spec=spec, items=cmd.items, skipped=cmd.skipped)]


def launch_campaign(cmd: m.LaunchCampaign, campaign_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _need(history, "campaign", campaign_id)
    if _last(history, ev.CampaignLaunched, *_ENDED):
        raise Rejected("conflict", f"campaign {campaign_id} was already launched or ended")
    return [ev.CampaignLaunched()]


def _running(history: Sequence[ev.Event], campaign_id: str) -> None:
    _need(history, "campaign", campaign_id)
    if _last(history, *_ENDED):
        raise Rejected("conflict", f"campaign {campaign_id} has already ended")
    if _last(history, ev.CampaignLaunched) is None:
        raise Rejected("conflict", f"campaign {campaign_id} has not been launched")


def cancel_campaign(cmd: m.CancelCampaign, campaign_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _need(history, "campaign", campaign_id)
    if _last(history, *_ENDED):
        raise Rejected("conflict", f"campaign {campaign_id} has already ended")
    return [ev.CampaignCancelled(reason=cmd.reason)]


def pause_campaign(cmd: m.PauseCampaign, campaign_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _running(history, campaign_id)
    if isinstance(_last(history, ev.CampaignPaused, ev.CampaignResumed), ev.CampaignPaused):
        raise Rejected("conflict", f"campaign {campaign_id} is already paused")
    return [ev.CampaignPaused()]


def resume_campaign(cmd: m.ResumeCampaign, campaign_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _running(history, campaign_id)
    if not isinstance(_last(history, ev.CampaignPaused, ev.CampaignResumed), ev.CampaignPaused):
        raise Rejected("conflict", f"campaign {campaign_id} is not paused")
    return [ev.CampaignResumed()]


def complete_campaign(
    cmd: m.CompleteCampaign, campaign_id: str, history: Sequence[ev.Event]
) -> list[ev.Event]:
    _running(history, campaign_id)
    if cmd.status == "succeeded" and cmd.failed:
        raise Rejected("invalid", f"campaign {campaign_id} had {cmd.failed} failed items: not succeeded")
    return [ev.CampaignCompleted(status=cmd.status, succeeded=cmd.succeeded, failed=cmd.failed)]


# --- items (aggregate `campaign_item`, id `<campaign>-<key>`) -----------------------------------------


def item_target(cmd: m.DispatchCampaignItem | m.RetryCampaignItem | m.FinishCampaignItem) -> str:
    return item_id(cmd.campaign_id, cmd.key)


def _attempts(history: Sequence[ev.Event]) -> int:
    return sum(isinstance(e, ev.CampaignItemDispatched) for e in history)


def _item_open(history: Sequence[ev.Event], key: str) -> None:
    finished = _last(history, ev.CampaignItemFinished)
    if finished is not None:
        raise Rejected("conflict", f"item {key} has already finished ({finished.status})")


def dispatch_item(cmd: m.DispatchCampaignItem, _id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _item_open(history, cmd.key)
    if cmd.attempt != _attempts(history) + 1:
        raise Rejected("conflict", f"item {cmd.key}: attempt {cmd.attempt} is not the next one")
    return [
        ev.CampaignItemDispatched(
            campaign_id=cmd.campaign_id,
            key=cmd.key,
            attempt=cmd.attempt,
            test_id=cmd.test_id,
            agent=cmd.agent,
        )
    ]


def _current(history: Sequence[ev.Event], key: str, attempt: int) -> None:
    _item_open(history, key)
    if attempt != _attempts(history):
        raise Rejected("conflict", f"item {key}: attempt {attempt} is not the current one")
    retrying = _last(history, ev.CampaignItemRetrying)
    if retrying is not None and retrying.attempt == attempt:
        raise Rejected("conflict", f"item {key}: attempt {attempt} has already failed")


def retry_item(cmd: m.RetryCampaignItem, _id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _current(history, cmd.key, cmd.attempt)
    return [
        ev.CampaignItemRetrying(
            campaign_id=cmd.campaign_id,
            key=cmd.key,
            attempt=cmd.attempt,
            not_before=cmd.not_before,
            error=cmd.error,
        )
    ]


def finish_item(cmd: m.FinishCampaignItem, _id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    if cmd.attempt:  # attempt 0: an item that never ran (the campaign was cancelled before it)
        _current(history, cmd.key, cmd.attempt)
    else:
        _item_open(history, cmd.key)
    return [
        ev.CampaignItemFinished(
            campaign_id=cmd.campaign_id,
            key=cmd.key,
            attempt=cmd.attempt,
            test_id=cmd.test_id,
            status=cmd.status,
            run_id=cmd.run_id,
            error=cmd.error,
            simulated=cmd.simulated,
            skipped=cmd.skipped,
        )
    ]


# --- schedules ---------------------------------------------------------------------------------------


def create_schedule(cmd: m.CreateSchedule, schedule_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _new(history, "schedule", schedule_id)
    try:
        cron.parse(cmd.cron)
    except cron.CronError as exc:
        raise Rejected("invalid", str(exc)) from None
    if not cmd.name.strip():
        raise Rejected("invalid", "a schedule needs a name")
    return [
        ev.ScheduleCreated(
            name=cmd.name.strip(), cron=cmd.cron, template=cmd.template, campaign_name=cmd.campaign_name
        )
    ]


def delete_schedule(cmd: m.DeleteSchedule, schedule_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _need(history, "schedule", schedule_id)
    if _last(history, ev.ScheduleDeleted):
        raise Rejected("not_found", f"schedule {schedule_id!r} was deleted")
    return [ev.ScheduleDeleted()]


def fire_schedule(cmd: m.FireSchedule, schedule_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _need(history, "schedule", schedule_id)
    if _last(history, ev.ScheduleDeleted):
        raise Rejected("conflict", f"schedule {schedule_id!r} was deleted")
    if any(isinstance(e, ev.ScheduleFired) and e.slot == cmd.slot for e in history):
        raise Rejected("conflict", f"schedule {schedule_id!r} already fired for {cmd.slot.isoformat()}")
    return [ev.ScheduleFired(slot=cmd.slot, campaign_id=cmd.campaign_id, error=cmd.error)]


def report_missed(cmd: m.ReportMissedSlots, schedule_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _need(history, "schedule", schedule_id)
    return [ev.ScheduleSlotsMissed(slots=cmd.slots)] if cmd.slots else []
