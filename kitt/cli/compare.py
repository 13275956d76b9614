"""`kitt compare RUN_A RUN_B [--fail-on-regression]`: the A/B table from both runs' records, for CI."""

import sys

import click
import msgspec
from rich.table import Table

from kitt.bench import significance
from kitt.bench.recordstore import RecordsError
from kitt.cli.common import async_command, console, print_json, settings
from kitt.events import validity
from kitt.events.results import ResultDocument
from kitt.runtime.embedded import session
from kitt.storage import abtest, queries


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    run_a: str
    run_b: str
    levels: list[significance.LevelComparison]
    regressions: int


@click.command("compare")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--metric", "metrics", multiple=True, help="Only these figures (ttft, tpot, itl, e2e, ...).")
@click.option("--benchmark", help="Only this benchmark (default: every performance one both runs have).")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when any figure got significantly worse.")
@click.option(
    "--allow-invalid", is_flag=True, help="Compare levels the client's self-check marked invalid too."
)
@click.option("--json", "as_json", is_flag=True)
@async_command
async def compare(
    run_a: str,
    run_b: str,
    metrics: tuple[str, ...],
    benchmark: str | None,
    fail_on_regression: bool,
    allow_invalid: bool,
    as_json: bool,
) -> None:
    """RUN_B against RUN_A: each figure's change with its 95 % bootstrap interval, and a verdict.

    A change counts only when the interval excludes zero, so noise is never a regression.
    """
    async with session(settings()) as s:
        docs = {d.run_id: d for d in await queries.documents(s.engine, [run_a, run_b])}
        for run in (run_a, run_b):
            if run not in docs:
                raise click.ClickException(f"no run {run!r} in KARR")
        try:
            levels = await abtest.levels(
                s.nc, docs[run_a], docs[run_b], metrics=metrics or None, benchmark=benchmark
            )
        except RecordsError as exc:
            raise click.ClickException(str(exc)) from None
    if not levels:
        raise click.ClickException(f"runs {run_a} and {run_b} have no performance level in common")
    refused = [] if allow_invalid else _invalid(levels, docs[run_a], docs[run_b])
    if refused:
        raise click.ClickException(
            "no verdict on a level the load generator's self-check marked invalid (the client, not the "
            f"engine, set its pace): {'; '.join(refused)}. Pass --allow-invalid to compare it anyway, "
            "or --benchmark to choose another."
        )
    worse = sum(d.verdict == "worse" for level in levels for d in level.differences)
    result = Comparison(run_a=run_a, run_b=run_b, levels=levels, regressions=worse)
    if as_json:
        print_json(result)
    else:
        _print(result)
    if fail_on_regression and worse:
        click.echo(f"{worse} significant regression(s) of {run_b} against {run_a}", err=True)
        sys.exit(1)


def _invalid(
    levels: list[significance.LevelComparison], run_a: ResultDocument, run_b: ResultDocument
) -> list[str]:
    """The compared levels that either run's self-check marked invalid, as `benchmark level (in RUN)`."""
    out = []
    for doc in (run_a, run_b):
        marked = {(r.name, level) for r in doc.benchmarks for level in validity.invalid_levels(r)}
        for level in levels:
            # "" is a benchmark from before per-level verdicts that said invalid: all its levels are
            if (level.benchmark, level.level) in marked or (level.benchmark, "") in marked:
                out.append(f"{level.benchmark} {level.level} (in {doc.run_id})")
    return out


def _print(result: Comparison) -> None:
    colours = {"worse": "red", "better": "green", "same": "dim"}
    for level in result.levels:
        table = Table(
            "figure",
            "A",
            "B",
            "change",
            "95 % interval of B - A",
            "verdict",
            title=f"{level.benchmark} {level.level}: {result.run_b} against {result.run_a}",
        )
        for d in level.differences:
            change = "-" if d.change_pct is None else f"{d.change_pct:+.1f} %"
            colour = colours[d.verdict]
            table.add_row(
                f"{d.metric} {d.stat} ({d.unit})",
                f"{d.a:,.3f}",
                f"{d.b:,.3f}",
                change,
                f"[{d.low:+,.3f}, {d.high:+,.3f}]",
                f"[{colour}]{d.verdict}[/{colour}]",
            )
        console().print(table)
        if level.failed_a or level.failed_b:
            console().print(f"failed requests: A {level.failed_a or 'none'} · B {level.failed_b or 'none'}")
