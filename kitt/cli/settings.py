"""`kitt settings`: values that take priority over their environment variables, stored as events."""

import asyncio
import json

import click

from kitt.cli.common import async_command, print_json, settings
from kitt.commands.client import send
from kitt.commands.messages import ChangeSetting
from kitt.runtime.embedded import session
from kitt.storage import settings as stored
from kitt.storage.checkpoints import wait_for_checkpoint


@click.group("settings")
def settings_group() -> None:
    """Show and change KITT's settings (datasets_dir, trusted_tasks_dir, model_dir, ...)."""


@settings_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def settings_list(as_json: bool) -> None:
    async with session(settings()) as s:
        values = await stored.all_settings(s.engine)
    if as_json:
        print_json(values)
        return
    for key in sorted(set(stored.KNOWN) | set(values)):
        env = stored.KNOWN.get(key)
        shown = json.dumps(values[key]) if key in values else "(unset)"
        click.echo(f"{key} = {shown}" + (f"   [overrides {env}]" if env else ""))


@settings_group.command("set")
@click.argument("key")
@click.argument("value")
@async_command
async def settings_set(key: str, value: str) -> None:
    """Set KEY to VALUE (JSON if it parses as JSON, else text). An empty VALUE unsets it."""
    if key not in stored.KNOWN:
        raise click.ClickException(f"unknown setting {key!r}; known: {', '.join(sorted(stored.KNOWN))}")
    try:
        parsed = json.loads(value) if value else ""
    except ValueError:
        parsed = value
    if isinstance(parsed, (list, dict)):
        raise click.ClickException(
            "a setting is one value (text, number or true/false), not a list or mapping"
        )
    async with session(settings()) as s:
        reply = await send(s.nc, ChangeSetting(key=key, value=parsed))
        await asyncio.shield(wait_for_checkpoint(s.engine, "settings", reply.seq))
    click.echo(f"{key} = {json.dumps(parsed)}")
