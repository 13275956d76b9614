"""`kitt campaign schedule|unschedule|cron-status`: campaigns fired by KITT's own scheduler."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import click
import msgspec
from rich.table import Table

from kitt.campaigns import cron
from kitt.campaigns import file as campaign_file
from kitt.cli.campaign import campaign_group
from kitt.cli.common import async_command, console, print_json, settings
from kitt.commands.client import send
from kitt.commands.messages import CreateSchedule, DeleteSchedule
from kitt.orchestration.launching import plan_campaign
from kitt.runtime.embedded import session
from kitt.storage import campaigns as stored
from kitt.storage.checkpoints import wait_for_checkpoint


class CronStatus(msgspec.Struct, frozen=True, kw_only=True):
    schedule_id: str
    name: str
    cron: str
    next: datetime
    last_slot: datetime | None
    last_campaign_id: str | None
    last_outcome: str | None  # the last campaign's status, or why its slot could not be planned
    missed_slots: int
    last_missed: datetime | None


@campaign_group.command("schedule")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--cron", "expression", required=True, help='Five fields, UTC: "0 2 * * *" is 02:00 nightly.')
@click.option("--name", default=None, help="The schedule's name (default: the campaign's).")
@async_command
async def schedule(path: Path, expression: str, name: str | None) -> None:
    """Fire the campaign in PATH at every slot of a cron expression (planned afresh each time)."""
    try:
        parsed_cron = cron.parse(expression)
    except cron.CronError as exc:
        raise click.ClickException(str(exc)) from None
    parsed = campaign_file.load(path)
    spec = parsed.spec(campaign_file.source_of(path))
    cfg = settings()
    async with session(cfg) as s:
        await plan_campaign(s.nc, cfg.home, parsed.name, spec)  # refuse now what would fail every night
        reply = await send(
            s.nc,
            CreateSchedule(
                name=name or parsed.name, cron=expression, template=spec, campaign_name=parsed.name
            ),
        )
        await asyncio.shield(wait_for_checkpoint(s.engine, "schedules", reply.seq))
    upcoming = parsed_cron.next_after(datetime.now(UTC))
    click.echo(f"schedule {reply.ids[0]}: {expression} (next {upcoming:%Y-%m-%d %H:%M} UTC)")


@campaign_group.command("unschedule")
@click.argument("schedule_id")
@async_command
async def unschedule(schedule_id: str) -> None:
    async with session(settings()) as s:
        reply = await send(s.nc, DeleteSchedule(schedule_id=schedule_id))
        await asyncio.shield(wait_for_checkpoint(s.engine, "schedules", reply.seq))
    click.echo(f"schedule {schedule_id}: deleted")


@campaign_group.command("cron-status")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def cron_status(as_json: bool) -> None:
    """Each schedule's next fire time, its last slot and outcome, and the slots it missed."""
    async with session(settings()) as s:
        found = await stored.schedules(s.engine)
        outcomes: dict[str, str] = {}
        for sched in found:
            if sched.last_campaign_id:
                fired = await stored.latest_by_id(s.engine, sched.last_campaign_id)
                outcomes[sched.schedule_id] = fired.status if fired else "unknown"
    now = datetime.now(UTC)
    rows = [
        CronStatus(
            schedule_id=sched.schedule_id,
            name=sched.name,
            cron=sched.cron,
            next=cron.parse(sched.cron).next_after(now),
            last_slot=sched.last_slot,
            last_campaign_id=sched.last_campaign_id,
            last_outcome=outcomes.get(sched.schedule_id) or sched.last_error,
            missed_slots=sched.missed_slots,
            last_missed=sched.last_missed,
        )
        for sched in found
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "cron", "next (UTC)", "last slot", "last outcome", "missed")
    for r in rows:
        last = r.last_slot.strftime("%Y-%m-%d %H:%M") if r.last_slot else "-"
        when = r.next.strftime("%Y-%m-%d %H:%M")
        table.add_row(r.schedule_id, r.name, r.cron, when, last, r.last_outcome or "-", str(r.missed_slots))
    console().print(table)
