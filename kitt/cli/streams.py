import click

from kitt.cli.common import async_command, settings
from kitt.events import streams as stream_defs
from kitt.runtime.embedded import session


@click.group()
def streams() -> None:
    """JetStream streams."""


@streams.command("apply")
@async_command
async def apply() -> None:
    """Create or update every stream (idempotent; also done on start-up)."""
    async with session(settings(), services=False) as s:
        for line in await stream_defs.apply(s.nc.jetstream()):
            click.echo(line)
