"""`kitt up`: the embedded runtime in the foreground until SIGTERM or Ctrl-C."""

import asyncio
import signal

import click

from kitt.auth.credentials import url_without
from kitt.cli.common import async_command, settings
from kitt.runtime import instance
from kitt.runtime.embedded import Runtime


@click.command()
@async_command
async def up() -> None:
    """Start KITT on the embedded defaults (nats-server child, SQLite in KITT_HOME) and keep it running."""
    cfg = settings()
    running = instance.find_running(cfg.instance_file)
    if running is not None:
        raise click.ClickException(
            f"KITT is already running for {cfg.home} (pid {running.pid}, {url_without(running.nats_url)})"
        )
    runtime = Runtime(cfg)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runtime.request_stop)
    await runtime.start()
    click.echo(f"KITT is up: NATS {runtime.agent_url}, home {cfg.home}. Ctrl-C to stop.", err=True)
    try:
        await runtime.wait()
    finally:
        await runtime.stop()
