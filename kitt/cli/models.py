"""`kitt models`: models on disk, and models managed through Devon (search, download, list, remove,
status). Devon is reached as `kitt.devon.resolve` decides: DEVON_URL (or --devon-url) with DEVON_API_KEY,
else the local devon package, else the devon CLI. The key is read from the environment only, so it never
shows in a process list or a shell's history."""

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from rich.table import Table

from kitt.cli.common import async_command, console, print_json
from kitt.devon.protocol import Devon
from kitt.devon.resolve import resolve
from kitt.devon.types import DEFAULT_SOURCE, Search, StorageStatus
from kitt.engines import formats

T = TypeVar("T")


@click.group()
@click.option("--devon-url", envvar="DEVON_URL", default=None, help="Devon's URL (default: DEVON_URL).")
@click.pass_context
def models(ctx: click.Context, devon_url: str | None) -> None:
    """Models on disk, and models managed through Devon."""
    ctx.obj = devon_url


async def _with_devon(call: Callable[[Devon], Awaitable[T]]) -> T:
    devon = await resolve(click.get_current_context().find_object(str), os.environ.get("DEVON_API_KEY"))
    return await call(devon)


def _size(size_bytes: int) -> str:
    if size_bytes < 1024:
        return f"{size_bytes} B"
    value = float(size_bytes)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


@models.command("tiny")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["gguf", "safetensors"]),
    default="gguf",
    show_default=True,
    help="gguf: one file, for llama.cpp and Ollama. safetensors: a Hugging Face folder, for vLLM.",
)
def tiny(path: Path | None, fmt: str) -> None:
    """Write a tiny random-weight llama to PATH (for trying KITT and an engine without a download).

    PATH defaults to kitt-tiny.gguf, or the folder kitt-tiny-hf with --format safetensors."""
    if fmt == "safetensors":
        from kitt.models import tiny_hf

        folder = tiny_hf.write(path or Path("kitt-tiny-hf"))
        size = sum(f.stat().st_size for f in folder.iterdir())
        click.echo(f"wrote {folder} ({size // 1024} KiB, {formats.detect(folder)})")
        return
    from kitt.models.tiny import write

    target = write(path or Path("kitt-tiny.gguf"))
    click.echo(f"wrote {target} ({target.stat().st_size // 1024} KiB, {formats.detect(target)})")


@models.command("search")
@click.argument("query", required=False)
@click.option("--source", default=DEFAULT_SOURCE, show_default=True)
@click.option("--provider", default=None, help="e.g. qwen")
@click.option("--params", default=None, help="parameter count, e.g. 7b")
@click.option("--size", default=None, help="e.g. '<100gb'")
@click.option("--format", "fmt", default=None, help="gguf, safetensors or pytorch")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True)
@async_command
async def search(
    query: str | None,
    source: str,
    provider: str | None,
    params: str | None,
    size: str | None,
    fmt: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Search Devon's sources for models."""
    wanted = Search(
        query=query, source=source, provider=provider, params=params, size=size, format=fmt, limit=limit
    )
    found = await _with_devon(lambda devon: devon.search(wanted))
    if as_json:
        print_json(found)
        return
    table = _table("model", "params (B)", "format", "size", "downloads")
    for model in found.results:
        params_b = f"{model.parameter_count:g}" if model.parameter_count else ""
        sized = _size(model.total_size_bytes)
        table.add_row(model.model_id, params_b, ", ".join(model.format), sized, str(model.downloads))
    console().print(table)


@models.command("download")
@click.argument("model_id")
@click.option("--source", default=DEFAULT_SOURCE, show_default=True)
@click.option("--include", multiple=True, help="only files matching this glob (repeatable), e.g. '*Q4_K_M*'")
@click.option("--force", is_flag=True, help="download again even when Devon has it")
@async_command
async def download(model_id: str, source: str, include: tuple[str, ...], force: bool) -> None:
    """Download MODEL_ID through Devon; prints where it landed."""
    out = console(stderr=True)
    with out.status(f"downloading {source}/{model_id} through Devon…"):
        got = await _with_devon(lambda devon: devon.download(model_id, source, include, force))
    click.echo(f"{got.source}/{got.model_id}: {got.path} ({len(got.files)} files, {_size(got.size_bytes)})")


@models.command("list")
@click.option("--source", default=None)
@click.option("--json", "as_json", is_flag=True)
@async_command
async def list_models(source: str | None, as_json: bool) -> None:
    """The models Devon has downloaded."""
    found = await _with_devon(lambda devon: devon.models(source))
    if as_json:
        print_json(found)
        return
    table = _table("model", "source", "size", "path")
    for model in found:
        table.add_row(model.model_id, model.source, _size(model.size_bytes), model.path)
    console().print(table)


@models.command("remove")
@click.argument("model_id")
@click.option("--source", default=DEFAULT_SOURCE, show_default=True)
@click.option("--yes", is_flag=True, help="do not ask")
@async_command
async def remove(model_id: str, source: str, yes: bool) -> None:
    """Delete a model Devon downloaded (its files and its entry)."""
    if not yes:
        click.confirm(f"Delete {source}/{model_id} and its files?", abort=True)
    await _with_devon(lambda devon: devon.remove(model_id, source))
    click.echo(f"removed {source}/{model_id}")


@models.command("status")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def status(as_json: bool) -> None:
    """Devon's storage: how many models, how much space, per source."""

    async def call(devon: Devon) -> tuple[str, StorageStatus]:
        return devon.describe, await devon.status()

    where, found = await _with_devon(call)
    if as_json:
        print_json(found)
        return
    click.echo(f"{where}: {found.model_count} models, {_size(found.total_size_bytes)}")
    if found.storage_path:
        click.echo(f"storage: {found.storage_path}")
    for name, used in sorted(found.sources.items()):
        click.echo(f"  {name}: {used.count} models, {_size(used.size_bytes)}")


def _table(*columns: str) -> Table:
    table = Table()
    for column in columns:
        table.add_column(column)
    return table
