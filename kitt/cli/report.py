"""`kitt report RUN [RUN...] -o report.html`: one self-contained HTML file of stored runs."""

import asyncio
from importlib import resources
from pathlib import Path

import click

from kitt.bench.recordstore import RecordsError
from kitt.charts import report as html_report
from kitt.cli.common import async_command, settings
from kitt.runtime.embedded import session
from kitt.storage import abtest, queries, records


@click.command("report")
@click.argument("run_ids", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
)
@async_command
async def report(run_ids: tuple[str, ...], output: Path) -> None:
    """Sweep curves, latency CDFs and the Pareto front of RUN_IDS; for two runs, the A/B table too."""
    wanted = list(dict.fromkeys(run_ids))
    async with session(settings()) as s:
        docs = {d.run_id: d for d in await queries.documents(s.engine, wanted)}
        missing = [r for r in wanted if r not in docs]
        if missing:
            raise click.ClickException(f"no run {missing[0]!r} in KARR")
        runs = []
        try:
            for run_id in wanted:
                levels, series = {}, {}
                for result in docs[run_id].benchmarks:
                    if result.kind == "performance" and (result.records or result.samples):
                        for level, columns in (await records.columns_by_level(s.nc, result)).items():
                            levels[f"{result.name} {level}"] = columns
                    if rows := await records.telemetry_of(s.nc, result):
                        series[result.name] = rows
                runs.append(html_report.ReportRun(doc=docs[run_id], levels=levels, telemetry=series))
            ab = await abtest.levels(s.nc, docs[wanted[0]], docs[wanted[1]]) if len(wanted) == 2 else None
        except RecordsError as exc:
            raise click.ClickException(str(exc)) from None
    style = (resources.files("kitt.api") / "static" / "kitt.css").read_text()
    html = html_report.render(runs, ab, style=style)
    await asyncio.to_thread(output.write_text, html)
    click.echo(f"wrote {output} ({len(html) // 1024} KiB, {len(runs)} run(s))")
