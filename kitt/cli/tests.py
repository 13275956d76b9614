"""`kitt test`: the benchmarks a suite can name — built in, and the user's custom ones."""

import asyncio
from pathlib import Path

import click
from rich.table import Table

from kitt.bench import suites
from kitt.bench.quality import catalog, custom, datasets
from kitt.cli.common import console, print_json, settings
from kitt.runtime.embedded import RuntimeUnavailable, open_database
from kitt.storage import settings as stored
from kitt.yamlfile import YamlError


def _benchmarks_dir() -> Path:
    return settings().home / "benchmarks"


async def _stored(keys: tuple[str, ...]) -> dict[str, str | None]:
    db = await open_database(settings().database_url)
    try:
        return {key: await stored.text(db, key) for key in keys}
    finally:
        await db.dispose()


def _settings(*keys: str) -> dict[str, str | None]:
    """Saved settings (one database visit) when it is reachable; otherwise the environment decides."""
    try:
        return asyncio.run(_stored(keys))
    except RuntimeUnavailable:
        return dict.fromkeys(keys)


@click.group("test")
def test_group() -> None:
    """List, create and validate benchmarks (quality and custom)."""


@test_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def test_list(as_json: bool) -> None:
    """Built-in quality benchmarks, custom benchmarks in $KITT_HOME/benchmarks, and the suites."""
    saved = _settings("datasets_dir", "trusted_tasks_dir")
    data_dir = datasets.resolve_dir(saved["datasets_dir"])
    trusted = custom.trusted_dir(saved["trusted_tasks_dir"])
    rows: list[dict[str, str]] = []
    for name in catalog.BENCHMARKS:
        present = "data present" if (data_dir / name).is_dir() else f"data missing in {data_dir}"
        rows.append(
            {"name": name, "kind": "quality", "modes": ",".join(catalog.modes(name)), "note": present}
        )
    for path in sorted(_benchmarks_dir().glob("*.y*ml")):
        try:
            found = custom.load(path, trusted)
            rows.append({"name": path.stem, "kind": "custom", "modes": found.mode, "note": found.format})
        except YamlError as exc:
            rows.append({"name": path.stem, "kind": "custom", "modes": "-", "note": f"invalid: {exc}"})
    for suite_name in suites.builtin_names():
        suite = suites.load(suite_name, settings().home)
        kinds = sorted({type(t).__name__.removesuffix("Test").lower() for t in suite.tests})
        rows.append(
            {"name": suite_name, "kind": "suite", "modes": ",".join(kinds), "note": suite.description}
        )
    if as_json:
        print_json(rows)
        return
    table = Table("name", "kind", "modes", "note")
    for row in rows:
        table.add_row(row["name"], row["kind"], row["modes"], row["note"])
    console().print(table)


@test_group.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path),
    help="Where to write (default: $KITT_HOME/benchmarks).",
)
def test_new(name: str, folder: Path | None) -> None:
    """Write a custom benchmark template NAME.yaml in KITT's simple format."""
    if not custom.valid_name(name):
        raise click.ClickException(f"{name!r}: a name is a letter then letters, digits, '_' or '-'")
    target = (folder or _benchmarks_dir()) / f"{name}.yaml"
    if target.exists():
        raise click.ClickException(f"{target} exists; not overwriting it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(custom.TEMPLATE.format(name=name))
    click.echo(f"wrote {target}; edit it, then `kitt test validate {target}`")


@test_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--trusted-dir", type=click.Path(path_type=Path), help="Allow `!function` in files under it.")
def test_validate(files: tuple[Path, ...], trusted_dir: Path | None) -> None:
    """Check custom benchmark FILES; errors name the file, line and field."""
    trusted = (
        trusted_dir.resolve()
        if trusted_dir
        else custom.trusted_dir(_settings("trusted_tasks_dir")["trusted_tasks_dir"])
    )
    failed = 0
    for path in files:
        try:
            found = custom.load(path, trusted)
        except YamlError as exc:
            failed += 1
            click.echo(f"invalid: {exc}", err=True)
            continue
        items = f", {len(found.simple.items)} items" if found.simple else ""
        click.echo(f"ok: {path}: {found.format} format, task {found.name}, {found.mode}{items}")
    if failed:
        raise SystemExit(1)
