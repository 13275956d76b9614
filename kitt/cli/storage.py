"""`kitt storage init|list|show|stats|export|import`: KARR from the command line."""

import asyncio
import sys
from pathlib import Path

import click
from rich.progress import Progress
from rich.table import Table

from kitt.bench.recordstore import RecordsError
from kitt.cli.common import async_command, console, print_json, settings
from kitt.commands.client import CommandFailed, send
from kitt.commands.messages import ImportResult
from kitt.events.ids import derived_id
from kitt.projections import migrate
from kitt.runtime.embedded import open_database, session
from kitt.storage import documents, flat, queries, records
from kitt.storage.checkpoints import wait_for_checkpoint


@click.group()
def storage() -> None:
    """KARR, Kitt's AI Results Repository."""


@storage.command("init")
@async_command
async def init() -> None:
    """Create or upgrade the results database (KITT_DATABASE_URL, default SQLite in KITT_HOME)."""
    cfg = settings()
    cfg.home.mkdir(parents=True, exist_ok=True)
    engine = await open_database(cfg.database_url)
    revision = await migrate.current_revision(engine)
    await engine.dispose()
    click.echo(f"KARR database ready at revision {revision}")


@storage.command("list")
@click.option("--model")
@click.option("--engine")
@click.option("--status")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@async_command
async def list_(model: str | None, engine: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Stored runs, newest first."""
    db = await open_database(settings().database_url)
    try:
        runs = await queries.list_runs(
            db, queries.RunFilter(model=model, engine=engine, status=status, limit=limit)
        )
    finally:
        await db.dispose()
    if as_json:
        print_json(runs)
        return
    table = Table("run", "model", "engine", "suite", "status", "started", "benchmarks")
    for r in runs:
        status_text = r.status_text + (" (simulated)" if r.simulated else "")
        table.add_row(
            r.run_id,
            r.model,
            r.engine,
            r.suite or "",
            status_text,
            f"{r.started_at:%Y-%m-%d %H:%M}",
            str(r.benchmark_count),
        )
    console().print(table)


@storage.command("show")
@click.argument("run_id")
@async_command
async def show(run_id: str) -> None:
    """A run's full result document, as JSON."""
    db = await open_database(settings().database_url)
    try:
        docs = await queries.documents(db, [run_id])
    finally:
        await db.dispose()
    if not docs:
        raise click.ClickException(f"no run {run_id!r} in KARR")
    print_json(docs[0])


@storage.command("stats")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def stats(as_json: bool) -> None:
    """Counts by engine and status."""
    db = await open_database(settings().database_url)
    try:
        result = await queries.stats(db)
    finally:
        await db.dispose()
    if as_json:
        print_json(result)
        return
    click.echo(f"runs: {result.runs}  models: {result.models}  metrics: {result.metrics}")
    click.echo("by engine: " + ", ".join(f"{k}={v}" for k, v in sorted(result.by_engine.items())))
    click.echo("by status: " + ", ".join(f"{k}={v}" for k, v in sorted(result.by_status.items())))


@storage.command("export")
@click.argument("run_ids", nargs=-1)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="File to write (default: stdout).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "parquet"]),
    default="json",
    show_default=True,
    help="json: whole result documents (import reads them back); csv, parquet: one row per metric.",
)
@async_command
async def export(run_ids: tuple[str, ...], output: Path | None, fmt: str) -> None:
    """Result documents (all runs, or RUN_IDS) as a JSON array that `kitt storage import` reads back.

    JSON holds every benchmark's per-request records, read from the RECORDS stream into the file; csv and
    parquet flatten runs x benchmarks x metrics for notebooks (the records stay out: see `kitt results`).
    """
    if fmt == "parquet" and output is None:
        raise click.ClickException("--format parquet writes a file: give -o FILE")
    async with session(settings()) as s:
        found = await queries.documents(s.engine, list(run_ids) if run_ids else None)
        try:
            docs = [await records.inlined(s.nc, doc) for doc in found] if fmt == "json" else found
        except RecordsError as exc:
            raise click.ClickException(str(exc)) from None
    missing = set(run_ids) - {d.run_id for d in docs}
    if missing:
        raise click.ClickException(f"not in KARR: {', '.join(sorted(missing))}")
    if fmt == "parquet" and output is not None:
        try:
            await asyncio.to_thread(flat.write_parquet, docs, output)
        except flat.ParquetUnavailable as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"exported {len(docs)} run(s) to {output}", err=True)
        return
    data = documents.dumps(docs) if fmt == "json" else flat.to_csv(docs)
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        await asyncio.to_thread(output.write_bytes, data)
        click.echo(f"exported {len(docs)} run(s) to {output}", err=True)


@storage.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print what was imported as JSON.")
@async_command
async def import_(files: tuple[Path, ...], as_json: bool) -> None:
    """Import result documents: each becomes events and lands in KARR through the projector."""
    docs = [doc for path in files for doc in documents.load(path)]  # validate everything before sending
    outcome: list[dict[str, str | int | bool]] = []
    async with session(settings()) as s:
        last = 0
        with Progress(transient=True, disable=as_json or not sys.stderr.isatty()) as progress:
            task = progress.add_task("importing", total=len(docs))
            for doc in docs:
                # The command id is derived from the run, so importing the same file twice is a no-op.
                stored = await records.outlined(s.nc, doc)  # records to RECORDS, a reference in the event
                command = ImportResult(command_id=derived_id("import", doc.run_id), document=stored)
                try:
                    reply = await send(s.nc, command)
                except CommandFailed as exc:
                    if exc.reply.code == "conflict":
                        outcome.append({"run_id": doc.run_id, "imported": False, "reason": str(exc)})
                        progress.advance(task)
                        continue
                    raise
                last = max(last, reply.seq)
                outcome.append({"run_id": doc.run_id, "imported": not reply.duplicate, "seq": reply.seq})
                progress.advance(task)
        if last and not await wait_for_checkpoint(s.engine, "karr", last):
            raise click.ClickException(
                "imported, but KARR has not caught up yet: check `kitt projections status`"
            )
    if as_json:
        print_json(outcome)
        return
    for item in outcome:
        state = "imported" if item["imported"] else f"skipped ({item.get('reason', 'already imported')})"
        click.echo(f"{item['run_id']}: {state}")
