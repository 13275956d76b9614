import dataclasses

import click

from kitt.cli.common import async_command, settings
from kitt.events import streams as stream_defs
from kitt.runtime.embedded import session


@click.group()
def streams() -> None:
    """JetStream streams."""


@streams.command("apply")
@click.option(
    "--replicas",
    type=click.IntRange(1, 5),
    default=None,
    help="Copies of each stream on a NATS cluster (default: KITT_STREAM_REPLICAS, else 1).",
)
@async_command
async def apply(replicas: int | None) -> None:
    """Create or update every stream (idempotent; also done on start-up)."""
    cfg = settings()
    limits = dataclasses.replace(cfg.stream_limits(), replicas=replicas or cfg.stream_replicas)
    async with session(cfg, services=False) as s:
        for line in await stream_defs.apply(s.nc.jetstream(), limits):
            click.echo(line)
