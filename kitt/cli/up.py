"""`kitt up`: the embedded runtime and the API in the foreground until SIGTERM or Ctrl-C."""

import asyncio
import os
import signal

import click

from kitt.auth.credentials import url_without
from kitt.cli.common import async_command, settings
from kitt.runtime import instance
from kitt.runtime.embedded import Runtime


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Where the API listens.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-api", is_flag=True, help="Run without the HTTP API.")
@async_command
async def up(host: str, port: int, no_api: bool) -> None:
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
    api = None
    try:
        if not no_api:
            api = await _serve(runtime, host, port)
        where = f", API {api.url}" if api else ""
        click.echo(f"KITT is up: NATS {runtime.agent_url}{where}, home {cfg.home}. Ctrl-C to stop.", err=True)
        await runtime.wait()
    finally:
        if api is not None:
            await api.stop()
        await runtime.stop()


async def _serve(runtime: Runtime, host: str, port: int):
    from kitt.api.app import create_app  # litestar only when the API is served
    from kitt.api.context import ApiContext
    from kitt.api.server import ApiServer

    assert runtime.nc is not None and runtime.engine is not None
    context = ApiContext(
        nc=runtime.nc,
        db=runtime.engine,
        home=runtime.settings.home,
        agent_url=runtime.agent_url,
        auth_token=os.environ.get("KITT_AUTH_TOKEN") or None,
    )
    server = ApiServer(create_app(context), host, port)
    try:
        await server.start()
    except (OSError, SystemExit) as exc:
        raise click.ClickException(f"cannot serve the API on {host}:{port}: {exc}") from None
    runtime.record_api(server.url)
    return server
