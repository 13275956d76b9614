"""`kitt models`: models on disk."""

from pathlib import Path

import click

from kitt.engines import formats


@click.group()
def models() -> None:
    """Models on disk."""


@models.command("tiny")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default=Path("kitt-tiny.gguf"))
def tiny(path: Path) -> None:
    """Write a tiny random-weight llama GGUF to PATH (for trying KITT and llama.cpp without a download)."""
    from kitt.models.tiny import write

    write(path)
    click.echo(f"wrote {path} ({path.stat().st_size // 1024} KiB, {formats.detect(path)})")
