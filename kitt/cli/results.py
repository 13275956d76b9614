"""`kitt results view RUN --as vllm|guidellm|aiperf`: other tools' figures, recomputed from the records."""

import click
import msgspec
from rich.table import Table

from kitt.bench import views
from kitt.bench.recordstore import RecordsError
from kitt.cli.common import async_command, console, print_json, settings
from kitt.runtime.embedded import session
from kitt.storage import queries, records


class LevelView(msgspec.Struct, frozen=True, kw_only=True):
    benchmark: str
    level: str
    view: str
    figures: list[views.Figure]


@click.group("results")
def results_group() -> None:
    """Look at stored results through other benchmarking tools' definitions."""


@results_group.command("view")
@click.argument("run_id")
@click.option(
    "--as", "view", type=click.Choice(views.VIEWS), default="vllm", show_default=True, help="Whose figures."
)
@click.option("--benchmark", help="Only this benchmark of the run (default: every performance one).")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def view_cmd(run_id: str, view: views.View, benchmark: str | None, as_json: bool) -> None:
    """The figures VIEW's own benchmark would report for RUN, from its stored per-request records."""
    async with session(settings()) as s:
        found = await queries.documents(s.engine, [run_id])
        if not found:
            raise click.ClickException(f"no run {run_id!r} in KARR")
        chosen = [
            b
            for b in found[0].benchmarks
            if b.kind == "performance"
            and (b.records is not None or b.samples)
            and (benchmark is None or b.name == benchmark)
        ]
        if not chosen:
            what = f"no benchmark {benchmark!r}" if benchmark else "no performance benchmark with records"
            raise click.ClickException(f"run {run_id} has {what}")
        out: list[LevelView] = []
        for result in chosen:
            try:
                levels = await records.columns_by_level(s.nc, result)
            except RecordsError as exc:
                raise click.ClickException(str(exc)) from None
            for level, columns in levels.items():
                figures = views.compute(view, columns)
                out.append(LevelView(benchmark=result.name, level=level, view=view, figures=figures))
    if as_json:
        print_json(out)
        return
    for item in out:
        table = Table("figure", "stat", "value", "unit", title=f"{item.benchmark} {item.level} as {view}")
        for f in item.figures:
            value = "-" if f.value is None else f"{f.value:,.3f}"
            table.add_row(f.name, f.stat or "", value, f.unit)
        console().print(table)
