"""`kitt projections status|dead-letters|reset|rebuild` and `kitt project` (projectors only, distributed)."""

import asyncio
import signal

import click
from rich.table import Table

from kitt.cli.common import async_command, console, print_json, settings
from kitt.projections import admin, shadow
from kitt.projections.lease import Lease
from kitt.projections.registry import all_projections, by_name
from kitt.projections.runner import Projector
from kitt.runtime import instance
from kitt.runtime.embedded import connect_nats, open_database, session


@click.group()
def projections() -> None:
    """Read models built from the event streams."""


@projections.command("status")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def status(as_json: bool) -> None:
    """Checkpoint, lag, skipped and dead-lettered events of each projection."""
    async with session(settings(), services=False) as s:
        rows = await admin.status(s.nc, s.engine, all_projections(settings().influxdb))
    if as_json:
        print_json(rows)
        return
    table = Table("projection", "checkpoint", "lag", "unknown skipped", "dead letters")
    for r in rows:
        table.add_row(r.name, str(r.last_seq), str(r.lag), str(r.unknown_skipped), str(r.dead_letters))
    console().print(table)


@projections.command("dead-letters")
@click.argument("name", required=False)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True)
@async_command
async def dead_letters(name: str | None, limit: int, as_json: bool) -> None:
    """What a projection (or the ingestor, for agents' reports) refused, and why."""
    async with session(settings(), services=False) as s:
        rows = await admin.dead_letters(s.engine, name, limit)
    if as_json:
        print_json(rows)
        return
    table = Table("projection", "seq", "subject", "reason")
    for r in rows:
        table.add_row(r.projection, str(r.stream_seq), r.subject, r.reason)
    console().print(table)


def _selected(names: tuple[str, ...]):
    influx = settings().influxdb
    return [by_name(n, influx) for n in names] if names else all_projections(influx)


def _refuse_if_running() -> None:
    running = instance.find_running(settings().instance_file)
    if running is not None:
        raise click.ClickException(
            f"KITT is running (pid {running.pid}): stop `kitt up` before resetting projections "
            "(`kitt projections rebuild` works while it runs)"
        )


@projections.command("reset")
@click.argument("names", nargs=-1)
@click.confirmation_option(prompt="Empty these read models? They are rebuilt from the streams on next start.")
@async_command
async def reset(names: tuple[str, ...]) -> None:
    """Empty read models and their checkpoints (all, or the NAMES given)."""
    _refuse_if_running()
    async with session(settings(), services=False) as s:
        for projection in _selected(names):
            await admin.reset(s.engine, projection)
            click.echo(f"{projection.name}: reset")


@projections.command("rebuild")
@click.argument("names", nargs=-1)
@async_command
async def rebuild(names: tuple[str, ...]) -> None:
    """Replay the streams into fresh read models and switch them in (all, or the NAMES given). KITT may
    keep running: the live tables answer until the rebuilt ones replace them in one transaction."""
    cfg = settings()
    async with session(cfg, services=False) as s:
        for projection in _selected(names):
            scratch = cfg.prepare_home() / f"rebuild-{projection.name}.db"
            seq = await shadow.rebuild(s.nc, s.engine, projection, scratch)
            click.echo(f"{projection.name}: rebuilt up to event {seq}")


@click.command()
@click.option("--only", multiple=True, help="Run only these projections.")
@click.option("--batch-size", type=int, default=2000, show_default=True)
@async_command
async def project(only: tuple[str, ...], batch_size: int) -> None:
    """Run projectors against KITT_NATS_URL and KITT_DATABASE_URL until SIGTERM (distributed mode)."""
    cfg = settings()
    if cfg.nats_url is None:
        raise click.ClickException(
            "`kitt project` needs KITT_NATS_URL (embedded mode runs projectors in `kitt up`)"
        )
    nc = await connect_nats(cfg.nats_url, tls_ca=cfg.trusted_ca)
    engine = await open_database(cfg.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    projectors = [Projector(p, nc, engine, batch_size=batch_size) for p in _selected(only)]
    # One process writes each projection at a time (a lease in JetStream KV); the others stand by.
    leases = [Lease(nc, p.projection.name, replicas=cfg.stream_replicas) for p in projectors]
    try:
        await asyncio.gather(*(lease.hold(stop, p.run) for lease, p in zip(leases, projectors, strict=True)))
    finally:
        await nc.close()
        await engine.dispose()
