"""What `kitt stack` and `kitt monitoring` do alike to the compose project in a folder they generated:
check it, stop it, remove it, show its services. A StackError becomes the one-line error the user sees."""

import shutil
from pathlib import Path

import click

from kitt.cli.common import print_json
from kitt.stack import compose
from kitt.stack.options import StackError


def failure(exc: StackError) -> click.ClickException:
    return click.ClickException(str(exc))


def validated(where: Path, project: str) -> bool:
    """Compose's check of a freshly generated folder (False: no compose here to check it with). A file
    compose refuses is not left behind: the folder goes."""
    try:
        return compose.validate(where, project)
    except StackError as exc:
        shutil.rmtree(where, ignore_errors=True)
        raise failure(exc) from None


def stop(kind: str, name: str, where: Path, project: str) -> None:
    try:
        compose.stop(where, project)
    except StackError as exc:
        raise failure(exc) from None
    click.echo(f"{kind} {name} stopped")


def remove(kind: str, name: str, where: Path, project: str, *, delete_files: bool) -> None:
    try:
        compose.down(where, project, volumes=delete_files)
    except StackError as exc:
        raise failure(exc) from None
    if delete_files:
        shutil.rmtree(where)
    click.echo(f"{kind} {name} removed" + (" with its files and data" if delete_files else ""))


def status(heading: str, name: str, where: Path, project: str, options: object, *, as_json: bool) -> None:
    """The project's services and their state, under `heading` (or as JSON, with the folder's options)."""
    try:
        compose.docker_ready()
        services = compose.services(project)
    except StackError as exc:
        raise failure(exc) from None
    if as_json:
        print_json({"name": name, "folder": str(where), "options": options, "services": services})
        return
    click.echo(heading)
    if not services:
        click.echo("  (no containers)")
    for service in services:
        click.echo(f"  {service.service:<11} {service.state:<10} {service.status}")
