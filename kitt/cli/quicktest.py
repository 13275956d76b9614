"""`kitt quicktest`: run a model on an engine with a suite on a named agent; follow it; cancel it."""

import asyncio
import sys

import click
import msgspec
from nats.aio.client import Client
from nats.js.api import DeliverPolicy
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.cli.common import async_command, print_json, settings
from kitt.commands.client import send
from kitt.commands.messages import CancelTest, RequestTest
from kitt.events import logs, subjects
from kitt.events.states import DEFAULT_TEST_RUNTIME, RUNTIMES, RuntimeName
from kitt.events.types import TestSpec
from kitt.runtime.embedded import session
from kitt.storage import fleet
from kitt.storage.checkpoints import wait_for_checkpoint

FINAL = ("succeeded", "failed", "cancelled")


@click.group("quicktest")
def quicktest_group() -> None:
    """Tests on agents: run, list, show, logs, cancel."""


async def _follow(
    nc: Client, db: AsyncEngine, test_id: str, agent: str, *, follow: bool, quiet: bool = False
) -> fleet.Test:
    """Print the test's log lines (from its agent) in order; with `follow`, until the test has finished."""
    js = nc.jetstream()
    sub = await js.subscribe(
        subjects.test_logs(test_id, agent), ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except TimeoutError:
                test = await fleet.test(db, test_id)
                if test is None:
                    raise click.ClickException(f"test {test_id} is not in the read model") from None
                if not follow or test.status in FINAL:
                    return test
                continue
            if not quiet:
                line = logs.decode(msg.data)
                click.echo(f"[{line.source}] {line.line}")
    finally:
        await sub.unsubscribe()


@quicktest_group.command("run")
@click.option("--agent", required=True)
@click.option("-m", "--model", required=True)
@click.option("-e", "--engine", required=True)
@click.option("-s", "--suite", default="quick", show_default=True)
@click.option("--runtime", default=DEFAULT_TEST_RUNTIME, show_default=True, type=click.Choice(RUNTIMES))
@click.option("--force", is_flag=True, help="Send it even if the agent's platform cannot run the engine.")
@click.option("--wait", is_flag=True, help="Follow its log until it finishes; exit 1 unless it succeeded.")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def run(
    agent: str,
    model: str,
    engine: str,
    suite: str,
    runtime: RuntimeName,
    force: bool,
    wait: bool,
    as_json: bool,
) -> None:
    async with session(settings()) as s:
        spec = TestSpec(model=model, engine=engine, suite=suite, runtime=runtime, force=force, auto_pull=True)
        reply = await send(s.nc, RequestTest(spec=spec, agent=agent))  # the command checks agent and engine
        test_id = reply.ids[0]
        await asyncio.shield(wait_for_checkpoint(s.engine, "tests", reply.seq))
        if not wait:
            result = await fleet.test(s.engine, test_id)
            print_json(result) if as_json else click.echo(test_id)
            return
        result = await _follow(s.nc, s.engine, test_id, agent, follow=True, quiet=as_json)
    if as_json:
        print_json(result)
    else:
        click.echo(f"test {test_id}: {result.status}" + (f": {result.error}" if result.error else ""))
    if result.status != "succeeded":
        sys.exit(1)


@quicktest_group.command("list")
@click.option("--agent", default=None)
@click.option("--json", "as_json", is_flag=True)
@async_command
async def list_tests(agent: str | None, as_json: bool) -> None:
    async with session(settings()) as s:
        found = await fleet.tests(s.engine, agent_name=agent)
    if as_json:
        print_json(found)
        return
    for t in found:
        click.echo(f"{t.test_id}  {t.status:10}  {t.agent or '-':12}  {t.engine:10}  {t.model}")


@quicktest_group.command("show")
@click.argument("test_id")
@async_command
async def show(test_id: str) -> None:
    async with session(settings()) as s:
        found = await fleet.test(s.engine, test_id)
    if found is None:
        raise click.ClickException(f"unknown test {test_id!r}")
    click.echo(msgspec.json.format(msgspec.json.encode(found), indent=2).decode())


@quicktest_group.command("logs")
@click.argument("test_id")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the test finishes.")
@async_command
async def show_logs(test_id: str, follow: bool) -> None:
    async with session(settings()) as s:
        test = await fleet.test(s.engine, test_id)
        if test is None:
            raise click.ClickException(f"unknown test {test_id!r}")
        if test.agent is None:
            raise click.ClickException(f"test {test_id} has no agent yet: no log to show")
        await _follow(s.nc, s.engine, test_id, test.agent, follow=follow)


@quicktest_group.command("cancel")
@click.argument("test_id")
@click.option("--reason", default="cancelled by the user")
@async_command
async def cancel(test_id: str, reason: str) -> None:
    async with session(settings()) as s:
        reply = await send(s.nc, CancelTest(test_id=test_id, reason=reason))
        await asyncio.shield(wait_for_checkpoint(s.engine, "tests", reply.seq))
    click.echo(f"cancelling {test_id}")
