"""The fake `devon` CLI: Devon's commands KITT's CLI backend runs, printing what Devon's CLI prints
(src/devon/cli/*_cmd.py): the `Path:` lines, the confirmation prompt, 'Download failed: …' with exit 0,
`export --format json -o FILE`, `remove -y` with exit 1 when the model is not found."""

import json
import sys
from dataclasses import asdict

import click
from devon.sources.registry import SourceRegistry
from devon.storage.organizer import ModelStorage


@click.group()
def cli() -> None:
    pass


@cli.command()
@click.argument("model_identifier")
@click.option("--source", "-s")
@click.option("--force", "-f", is_flag=True)
def download(model_identifier: str, source: str | None, force: bool) -> None:
    storage = ModelStorage()
    source = source or "huggingface"
    if not force and storage.is_downloaded(source, model_identifier):
        click.echo(f"Already downloaded: {model_identifier}")
        click.echo(f"Path: {storage.get_model_path(source, model_identifier)}")
        return
    try:
        impl = SourceRegistry.get_source(source)()
        info = impl.get_model_info(model_identifier)
    except Exception as e:
        click.echo(f"Error: {e}")
        return
    if not click.confirm("Proceed?", default=True):
        return
    dest = storage.get_model_path(source, model_identifier)
    try:
        files = impl.download_model(model_identifier, str(dest))
        storage.register_model(source=source, model_id=model_identifier, metadata=asdict(info), files=files)
        click.echo("Download complete!")
        click.echo(f"Path: {dest}")
    except Exception as e:
        click.echo(f"Download failed: {e}")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["kitt", "json"]), default="kitt")
@click.option("--output", "-o", type=click.Path())
def export(fmt: str, output: str | None) -> None:
    models = ModelStorage().list_local_models()
    if not models:
        click.echo("No models to export.")
        return
    keys = ("source", "model_id", "path", "size_bytes", "downloaded_at", "files")
    content = json.dumps([{k: m[k] for k in keys} for m in models], indent=2)
    if output:
        with open(output, "w") as f:
            f.write(content)
        click.echo(f"Exported {len(models)} models to {output}")
    else:
        click.echo(content)


@cli.command()
@click.argument("model_id")
@click.option("--source", "-s", default="huggingface")
@click.option("--yes", "-y", is_flag=True)
def remove(model_id: str, source: str, yes: bool) -> None:
    storage = ModelStorage()
    if storage.get_model_entry(source, model_id) is None:
        click.echo(f"Model not found: {source}/{model_id}")
        sys.exit(1)
    if not yes and not click.confirm("Remove?"):
        return
    storage.delete_model(source, model_id)
    click.echo(f"Removed {model_id}")


if __name__ == "__main__":
    cli()
