"""`kitt run`: start an engine with a model, run a suite against it, and land the results in KARR."""

import asyncio
import sys
from pathlib import Path

import click
import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from kitt.cli.common import console as make_console
from kitt.cli.common import print_json, settings
from kitt.cli.common import run as run_coro
from kitt.engines import specs
from kitt.engines.runtime import default_runtime_name
from kitt.events import validity
from kitt.events.ids import uuid7
from kitt.events.results import BenchmarkResult
from kitt.events.states import RuntimeName
from kitt.orchestration.executor import Executor, RunOutcome, RunRequest
from kitt.orchestration.reporting import CommandReporter
from kitt.runtime.embedded import session
from kitt.storage import documents, profiles, queries, records
from kitt.storage import settings as stored_settings
from kitt.storage.checkpoints import wait_for_checkpoint

SUMMARY = (("ttft", "p50"), ("itl", "p50"), ("tpot", "p50"), ("e2e", "p50"))


@click.command("run")
@click.option(
    "-m", "--model", required=True, help="Model path (file or directory); with --endpoint, its served name."
)
@click.option("-e", "--engine", required=True, help=f"One of: {', '.join(specs.ENGINES)}.")
@click.option(
    "-s", "--suite", default=None, help="Suite name or YAML file (default: quick; with --slo: slo)."
)
@click.option(
    "--slo",
    help='Find the highest load meeting these targets, e.g. "ttft_p99<=500ms,tpot_p99<=50ms" '
    "(the suite's SLO searches aim at them).",
)
@click.option(
    "--runtime",
    type=click.Choice(specs.RUNTIMES),
    default=None,
    help="Where the engine runs (default: external with --endpoint, docker when a daemon is "
    "reachable, else native).",
)
@click.option("--endpoint", help="Benchmark a server that is already running at this URL.")
@click.option("--profile", help="Named engine profile with extra launch arguments.")
@click.option("--auto-pull", is_flag=True, help="Pull or build the engine image if it is missing.")
@click.option("--force", is_flag=True, help="Skip the model-format and platform checks.")
@click.option(
    "--health-timeout", type=float, default=600.0, show_default=True, help="Seconds to wait for health."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the result document to DIR/<run id>.json.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def run(
    model: str,
    engine: str,
    suite: str | None,
    slo: str | None,
    runtime: RuntimeName | None,
    endpoint: str | None,
    profile: str | None,
    auto_pull: bool,
    force: bool,
    health_timeout: float,
    output: Path | None,
    as_json: bool,
) -> None:
    """Run SUITE against MODEL on ENGINE; the run and its metrics land in KARR (`kitt storage list`)."""
    request = RunRequest(
        run_id=uuid7(),
        model=model,
        engine=engine,
        suite=suite or ("slo" if slo else "quick"),
        slo=slo,
        runtime=runtime or default_runtime_name(endpoint),
        endpoint=endpoint,
        profile=profile,
        force=force,
        auto_pull=auto_pull,
        health_timeout_s=health_timeout,
    )
    try:
        outcome = run_coro(_run(request, as_json, output))
    except KeyboardInterrupt:
        outcome = None
    if outcome is not None:
        if as_json:
            print_json(outcome)
        else:
            _summary(outcome)
    if outcome is None or outcome.status == "cancelled":
        click.echo("cancelled: the engine was stopped and the run recorded as cancelled", err=True)
        sys.exit(130)
    if outcome.status != "succeeded":
        sys.exit(1)


async def _run(request: RunRequest, as_json: bool, output: Path | None) -> RunOutcome:
    cfg = settings()
    async with session(cfg) as s:
        if request.profile:
            try:
                found = await profiles.get(s.engine, request.profile, specs.get(request.engine).name)
            except (profiles.ProfileError, specs.UnknownEngine) as exc:
                raise click.ClickException(str(exc)) from None
            request = msgspec.structs.replace(request, profile_args=found.args, profile_env=found.env)
        request = msgspec.structs.replace(
            request,
            datasets_dir=await stored_settings.text(s.engine, "datasets_dir"),
            trusted_tasks_dir=await stored_settings.text(s.engine, "trusted_tasks_dir"),
        )
        console = make_console(stderr=True)
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(
            *columns, console=console, transient=True, disable=as_json or not console.is_terminal
        ) as bar:
            task = bar.add_task("starting", total=None)

            def progress(what: str, done: int, total: int) -> None:
                bar.update(task, description=what, completed=done, total=total or None)

            outcome = await Executor(CommandReporter(s.nc), home=cfg.home, progress=progress).run(request)
        await asyncio.shield(wait_for_checkpoint(s.engine, "karr", outcome.seq))
        if output is not None:
            docs = [
                await records.inlined(s.nc, d) for d in await queries.documents(s.engine, [outcome.run_id])
            ]
            await asyncio.to_thread(output.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread((output / f"{outcome.run_id}.json").write_bytes, documents.dumps(docs))
        return outcome


def _summary(outcome: RunOutcome) -> None:
    console = make_console()
    table = Table(
        "benchmark",
        "level",
        "status",
        *(f"{n} {p} (ms)" for n, p in SUMMARY),
        "req/s",
        "out tok/s",
        "failed",
        title=f"run {outcome.run_id}",
    )
    for result in outcome.benchmarks:
        _rows(table, result)
    if table.rows:
        console.print(table)
    _quality_table(console, outcome)
    for result in outcome.benchmarks:
        if result.name == "warmup":
            console.print(
                "warm-up: "
                + ", ".join(
                    f"{m.name.replace('_', ' ')} {m.value:,.3g}{_unit(m.unit)}"
                    for m in result.metrics
                    if m.value is not None
                )
            )
    invalid = validity.count(outcome.benchmarks)
    colour = "red" if outcome.status != "succeeded" else ("yellow" if invalid else "green")
    status = validity.status_text(outcome.status, invalid)
    console.print(f"[{colour}]{status}[/{colour}]" + (f": {outcome.error}" if outcome.error else ""))
    console.print(f"stored in KARR: kitt storage show {outcome.run_id}")


def _unit(unit: str) -> str:
    if unit in ("", "x"):
        return unit
    return f" {unit}"


def _quality_table(console: Console, outcome: RunOutcome) -> None:
    quality = [r for r in outcome.benchmarks if r.kind in ("quality", "custom")]
    if not quality:
        return
    table = Table("benchmark", "mode", "status", "score", "± stderr", "metric", "documents", "shots")
    for result in quality:
        score = next((m for m in result.metrics if m.name == "score"), None)
        stderr = next((m.value for m in result.metrics if m.name == "score_stderr"), None)
        metric = f"{score.labels.get('metric')} ({score.labels.get('filter')})" if score else "-"
        table.add_row(
            result.name,
            result.mode or "-",
            result.status if not result.error else f"{result.status}: {result.error[:80]}",
            "-" if score is None or score.value is None else f"{score.value:.4f}",
            "-" if stderr is None else f"{stderr:.4f}",
            metric,
            str(result.settings.get("documents", "-")),
            str(result.settings.get("num_fewshot", "-")),
        )
    console.print(table)


def _rows(table: Table, result: BenchmarkResult) -> None:
    levels: dict[str, dict[str, float | None]] = {}
    classes: dict[str, list[str]] = {}  # level -> "HTTP 503: 50", ...
    for m in result.metrics:
        level = next((f"{k}={v}" for k, v in m.labels.items() if k in ("concurrency", "rate")), "")
        if "run" in m.labels and m.labels["run"] != "0":
            level += f" run {int(m.labels['run']) + 1}"
        if m.name == "errors" and m.value is not None:
            classes.setdefault(level, []).append(f"{m.labels.get('class')}: {m.value:g}")
            continue
        key = f"{m.name} {m.percentile}" if m.percentile else m.name
        levels.setdefault(level, {})[key] = m.value
    if not any(levels):
        return
    for level, values in levels.items():
        if level == "":
            continue

        def fmt(key: str, values: dict[str, float | None] = values) -> str:
            value = values.get(key)
            return "-" if value is None else f"{value:,.1f}"

        table.add_row(
            result.name,
            level,
            result.status,
            *(fmt(f"{n} {p}") for n, p in SUMMARY),
            fmt("request_throughput"),
            fmt("output_throughput"),
            _failed(values.get("error_rate"), classes.get(level, [])),
        )


def _failed(rate: float | None, classes: list[str]) -> str:
    """`25 % (HTTP 503: 50)`: the level's share of failed requests and how many of each class."""
    if rate is None:
        return "-"
    return f"{rate:.3g} %" + (f" ({', '.join(classes)})" if classes else "")
