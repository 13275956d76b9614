"""`kitt campaign`: plan, run, follow, cancel and resume campaigns (schedules and creation elsewhere)."""

import asyncio
import sys
from pathlib import Path

import click
from nats.aio.client import Client
from nats.js.api import DeliverPolicy
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.campaigns import file as campaign_file
from kitt.campaigns.plan import Plan
from kitt.cli.common import async_command, console, print_json, settings
from kitt.commands.client import send
from kitt.commands.messages import CancelCampaign, PauseCampaign, ResumeCampaign
from kitt.events import logs, subjects
from kitt.orchestration.launching import launch, only, plan_campaign
from kitt.runtime.embedded import session
from kitt.storage import campaigns as stored
from kitt.storage.checkpoints import wait_for_checkpoint

ENDED = ("succeeded", "completed_with_failures", "failed", "cancelled")


@click.group("campaign")
def campaign_group() -> None:
    """Campaigns: models x engines x suites, run unattended on an agent or on this machine."""


def _size(n: int) -> str:
    return "-" if not n else f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


def print_plan(planned: Plan) -> None:
    out = console()
    table = Table(
        "item", "model", "engine", "suite", "agent", "runtime", "size", title=f"campaign {planned.name}"
    )
    for item in planned.items:
        table.add_row(
            item.key, item.model, item.engine, item.suite, item.agent, item.runtime, _size(item.size_bytes)
        )
    out.print(table)
    if planned.skipped:
        skipped = Table("model", "engine", "suite", "skipped because", title="skipped")
        for s in planned.skipped:
            skipped.add_row(s.model, s.engine, s.suite, s.reason)
        out.print(skipped)
    out.print(f"{len(planned.items)} items to run, {len(planned.skipped)} skipped")


@campaign_group.command("run")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the plan that would run; publish nothing.")
@click.option(
    "--resume",
    "resume",
    is_flag=False,
    flag_value="latest",
    default=None,
    metavar="[ID]",
    help="Run again what failed or did not run of that campaign (default: the latest for PATH).",
)
@click.option("--wait", is_flag=True, help="Follow it until it ends; exit 1 unless it succeeded.")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def run(path: Path, dry_run: bool, resume: str | None, wait: bool, as_json: bool) -> None:
    """Plan the campaign in PATH (campaign.yaml) and launch it."""
    parsed = campaign_file.load(path)
    source = campaign_file.source_of(path)
    cfg = settings()
    async with session(cfg) as s:
        planned = await plan_campaign(s.nc, cfg.home, parsed.name, parsed.spec(source), local_ok=not dry_run)
        if resume is not None:
            planned = await _resumed(s.engine, planned, source, resume)
        if dry_run:
            print_json(planned) if as_json else print_plan(planned)
            return
        campaign_id, seq = await launch(s.nc, planned)
        await asyncio.shield(wait_for_checkpoint(s.engine, "campaigns", seq))
        if not as_json:
            click.echo(f"campaign {campaign_id}: {len(planned.items)} items, {len(planned.skipped)} skipped")
        if s.runtime is not None and not wait:  # no `kitt up` for this home: KITT stops with this command
            click.echo("no `kitt up` running: the campaign goes on when KITT runs (or use --wait)", err=True)
        if wait:
            await _follow(s.nc, s.engine, campaign_id, quiet=as_json)
        detail = await stored.campaign(s.engine, campaign_id)
    if as_json:
        print_json(detail)
    elif wait and detail is not None:
        _print_detail(detail)
    if wait and (detail is None or detail.campaign.status != "succeeded"):
        sys.exit(1)


async def _resumed(db: AsyncEngine, planned: Plan, source: str, resume: str) -> Plan:
    earlier = (
        await stored.latest(db, source=source)
        if resume == "latest"
        else await stored.latest_by_id(db, resume)
    )
    if earlier is None:
        raise click.ClickException(
            f"no earlier campaign to resume ({'for ' + source if resume == 'latest' else resume})"
        )
    detail = await stored.campaign(db, earlier.campaign_id)
    assert detail is not None
    if detail.campaign.status in ("running", "paused", "draft"):
        raise click.ClickException(f"campaign {earlier.campaign_id} is still {detail.campaign.status}")
    again = {i.key for i in detail.items if i.status != "succeeded"}
    if not again:
        raise click.ClickException(f"campaign {earlier.campaign_id}: every item succeeded; nothing to resume")
    cells = {(i.key, i.model, i.engine, i.suite) for i in detail.items if i.key in again}
    narrowed = only(planned, {key for key, *_ in cells}, earlier.campaign_id)
    if {(i.key, i.model, i.engine, i.suite) for i in narrowed.items} != cells:
        raise click.ClickException(
            f"{source} no longer plans the same items as campaign {earlier.campaign_id}: run it afresh"
        )
    return narrowed


async def _follow(nc: Client, db: AsyncEngine, campaign_id: str, *, quiet: bool) -> None:
    """The campaign's log lines and a progress bar, until it ends."""
    sub = await nc.jetstream().subscribe(
        subjects.campaign_log(campaign_id), ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console(stderr=True), disable=quiet) as bar:
        task = bar.add_task(campaign_id, total=None)
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=0.5)
                except TimeoutError:
                    found = await stored.latest_by_id(db, campaign_id)
                    if found is not None:
                        bar.update(task, total=found.total_items, completed=found.finished_items)
                        if found.status in ENDED:
                            return
                    continue
                if not quiet:
                    bar.console.print(logs.decode(msg.data).line, highlight=False)
        finally:
            await sub.unsubscribe()


@campaign_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def list_campaigns(as_json: bool) -> None:
    async with session(settings()) as s:
        found = await stored.campaigns(s.engine)
    if as_json:
        print_json(found)
        return
    table = Table("id", "name", "status", "items", "failed", "skipped", "created")
    for c in found:
        done = f"{c.finished_items}/{c.total_items}"
        table.add_row(
            c.campaign_id,
            c.name,
            c.status,
            done,
            str(c.failed_items),
            str(c.skipped_items),
            c.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console().print(table)


def _print_detail(detail: stored.CampaignDetail) -> None:
    c = detail.campaign
    out = console()
    out.print(
        f"campaign {c.campaign_id} ({c.name}): {c.status}, {c.finished_items}/{c.total_items} done, "
        f"{c.failed_items} failed, {c.skipped_items} skipped"
    )
    table = Table("item", "model", "engine", "suite", "agent", "status", "attempt", "took", "run / error")
    for i in detail.items:
        took = (
            f"{(i.finished_at - i.started_at).total_seconds():.1f} s"
            if i.started_at and i.finished_at
            else "-"
        )
        status = i.status + (" (simulated)" if i.simulated else "")
        note = i.error if i.status != "succeeded" and i.error else (i.run_id or "")
        table.add_row(
            i.key, Path(i.model).name, i.engine, i.suite, i.agent or "-", status, str(i.attempt), took, note
        )
    out.print(table)
    for skip in detail.skipped:
        out.print(f"skipped {Path(skip.model).name} x {skip.engine} x {skip.suite}: {skip.error}")


@campaign_group.command("status")
@click.argument("campaign_id", required=False)
@click.option("--json", "as_json", is_flag=True)
@async_command
async def status(campaign_id: str | None, as_json: bool) -> None:
    """One campaign's items (the latest campaign without ID)."""
    async with session(settings()) as s:
        if campaign_id is None:
            latest = await stored.latest(s.engine)
            if latest is None:
                raise click.ClickException("no campaigns yet (`kitt campaign run FILE`)")
            campaign_id = latest.campaign_id
        detail = await stored.campaign(s.engine, campaign_id)
        if detail is None:
            raise click.ClickException(f"unknown campaign {campaign_id!r} (see `kitt campaign list`)")
        if not as_json and detail.campaign.status in ("running", "paused") and sys.stderr.isatty():
            await _follow(s.nc, s.engine, campaign_id, quiet=True)  # the progress bar until it ends
            detail = await stored.campaign(s.engine, campaign_id) or detail
    print_json(detail) if as_json else _print_detail(detail)


@campaign_group.command("logs")
@click.argument("campaign_id")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the campaign ends.")
@async_command
async def campaign_logs(campaign_id: str, follow: bool) -> None:
    async with session(settings()) as s:
        if await stored.latest_by_id(s.engine, campaign_id) is None:
            raise click.ClickException(f"unknown campaign {campaign_id!r} (see `kitt campaign list`)")
        if follow:
            await _follow(s.nc, s.engine, campaign_id, quiet=False)
            return
        for entry in await logs.read(s.nc, subjects.campaign_log(campaign_id)):
            click.echo(entry.line)


async def _command(campaign_id: str, make) -> None:
    async with session(settings()) as s:
        reply = await send(s.nc, make(campaign_id))
        await asyncio.shield(wait_for_checkpoint(s.engine, "campaigns", reply.seq))


@campaign_group.command("cancel")
@click.argument("campaign_id")
@click.option("--reason", default="", help="Recorded with the cancellation.")
@async_command
async def cancel(campaign_id: str, reason: str) -> None:
    """Stop the running items and queue nothing more."""
    await _command(campaign_id, lambda cid: CancelCampaign(campaign_id=cid, reason=reason))
    click.echo(f"campaign {campaign_id}: cancelled")


@campaign_group.command("pause")
@click.argument("campaign_id")
@async_command
async def pause(campaign_id: str) -> None:
    """Start no new item (the running ones finish)."""
    await _command(campaign_id, lambda cid: PauseCampaign(campaign_id=cid))
    click.echo(f"campaign {campaign_id}: paused")


@campaign_group.command("resume")
@click.argument("campaign_id")
@async_command
async def resume_campaign(campaign_id: str) -> None:
    """Carry on a paused campaign."""
    await _command(campaign_id, lambda cid: ResumeCampaign(campaign_id=cid))
    click.echo(f"campaign {campaign_id}: resumed")
