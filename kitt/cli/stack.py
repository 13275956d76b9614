"""`kitt stack`: generate, start, stop, inspect and remove docker-compose deployments of KITT."""

import shutil
from pathlib import Path

import click

from kitt.cli.common import print_json, settings
from kitt.stack import compose
from kitt.stack.generate import generate, load, stacks
from kitt.stack.options import StackError, StackOptions, check_ports


def _fail(exc: StackError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group("stack")
def stack_group() -> None:
    """Deployments of KITT with Docker Compose: NATS (TLS, auth callout), PostgreSQL, serve, project."""


@stack_group.command("generate")
@click.argument("name")
@click.option("--web", is_flag=True, help="Publish the API and web UI on --port (behind a generated token).")
@click.option("--postgres", is_flag=True, help="PostgreSQL for KARR (else SQLite in the stack's volume).")
@click.option("--nats-replicas", type=click.Choice(["1", "3"]), default="1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--nats-port", default=4222, show_default=True, type=click.IntRange(1, 65535))
@click.option("--public-url", default=None, help="The URL agents and browsers reach this host by.")
@click.option("--force", is_flag=True, help="Replace a stack of that name (its secrets are made anew).")
def stack_generate(
    name: str,
    web: bool,
    postgres: bool,
    nats_replicas: str,
    port: int,
    nats_port: int,
    public_url: str | None,
    force: bool,
) -> None:
    """Write KITT_HOME/stacks/NAME/: docker-compose.yaml, .env (0600, random secrets), NATS configuration."""
    home = settings().prepare_home()
    try:
        options = StackOptions(
            name=name, web=web, postgres=postgres, nats_replicas=int(nats_replicas), port=port,
            nats_port=nats_port, public_url=public_url,
        )  # fmt: skip
        where = generate(home, options, force=force)
    except StackError as exc:
        raise _fail(exc) from None
    try:
        checked = compose.validate(where, options.project)
    except StackError as exc:
        shutil.rmtree(where, ignore_errors=True)  # a file compose refuses is not left behind
        raise _fail(exc) from None
    click.echo(
        f"stack {name}: {where}" + ("" if checked else " (unchecked: Docker Compose is not installed)")
    )
    click.echo(f"start it with: kitt stack start --name {name}")


def _loaded(name: str) -> tuple[StackOptions, Path]:
    try:
        return load(settings().prepare_home(), name)
    except StackError as exc:
        raise _fail(exc) from None


@stack_group.command("start")
@click.option("--name", required=True)
def stack_start(name: str) -> None:
    """Start the stack (PostgreSQL's image is built the first time)."""
    options, where = _loaded(name)
    try:
        compose.docker_ready()
        if not compose.image_present("kitt"):
            raise StackError("the kitt image is missing: `docker build -t kitt .` in a KITT checkout")
        if not _running(options):
            check_ports(options)
        compose.compose(where, options.project, "up", "-d", "--remove-orphans", timeout=1800)
    except StackError as exc:
        raise _fail(exc) from None
    click.echo(f"stack {name} started")
    if options.web:
        click.echo(
            f"web UI and API: http://localhost:{options.port} (the admin token is KITT_AUTH_TOKEN in .env)"
        )


@stack_group.command("stop")
@click.option("--name", required=True)
def stack_stop(name: str) -> None:
    """Stop the stack's containers (they, and its data, stay)."""
    options, where = _loaded(name)
    try:
        compose.compose(where, options.project, "stop", timeout=300)
    except StackError as exc:
        raise _fail(exc) from None
    click.echo(f"stack {name} stopped")


def _services(options: StackOptions) -> list[dict[str, str]]:
    fields = '{{.Label "com.docker.compose.service"}}\t{{.State}}\t{{.Status}}'
    label = f"label=com.docker.compose.project={options.project}"
    listed = compose.run(["docker", "ps", "-a", "--filter", label, "--format", fields], timeout=30)
    rows = [line.split("\t") for line in listed.stdout.splitlines() if line.count("\t") == 2]
    return [{"service": service, "state": state, "status": status} for service, state, status in rows]


def _running(options: StackOptions) -> bool:
    return any(s["state"] == "running" for s in _services(options))


@stack_group.command("status")
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True)
def stack_status(name: str, as_json: bool) -> None:
    """The stack's services and their state."""
    options, where = _loaded(name)
    try:
        compose.docker_ready()
        services = sorted(_services(options), key=lambda s: s["service"])
    except StackError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json({"name": name, "folder": str(where), "options": options, "services": services})
        return
    click.echo(f"stack {name} ({where})")
    for service in services or [{"service": "(no containers)", "state": "", "status": ""}]:
        click.echo(f"  {service['service']:<10} {service['state']:<10} {service['status']}")


@stack_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def stack_list(as_json: bool) -> None:
    """The stacks generated in this KITT home."""
    home = settings().prepare_home()
    rows = []
    for name in stacks(home):
        options, where = load(home, name)
        running = _running(options) if shutil.which("docker") else False
        rows.append({"name": name, "folder": str(where), "running": running, "postgres": options.postgres,
                     "web": options.web, "nats_replicas": options.nats_replicas})  # fmt: skip
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']:<20} {'running' if row['running'] else 'stopped':<8} {row['folder']}")


@stack_group.command("remove")
@click.option("--name", required=True)
@click.option("--delete-files", is_flag=True, help="Also delete its folder and its data volumes.")
def stack_remove(name: str, delete_files: bool) -> None:
    """Remove the stack's containers and network (its data too, with --delete-files)."""
    options, where = _loaded(name)
    try:
        compose.compose(where, options.project, "down", *(["-v"] if delete_files else []), timeout=300)
    except StackError as exc:
        raise _fail(exc) from None
    if delete_files:
        shutil.rmtree(where)
    click.echo(f"stack {name} removed" + (" with its files and data" if delete_files else ""))


@stack_group.command("exec", context_settings={"ignore_unknown_options": True})
@click.option("--name", required=True)
@click.argument("args", nargs=-1, required=True, type=click.UNPROCESSED)
def stack_exec(name: str, args: tuple[str, ...]) -> None:
    """Run `kitt ARGS` in the stack's serve container, as the stack's user (`agents create-test sim`,
    `quicktest run …`, `storage list`)."""
    options, where = _loaded(name)
    owner = _stack_user(where)
    try:
        out = compose.compose(
            where, options.project, "exec", "-T", "--user", owner, "serve", "kitt", *args, timeout=3600
        )
    except StackError as exc:
        raise _fail(exc) from None
    click.echo(out, nl=False)


def _stack_user(where: Path) -> str:
    values = dict(
        line.split("=", 1)
        for line in (where / ".env").read_text().splitlines()
        if "=" in line and line[0] != "#"
    )
    return f"{values.get('KITT_UID', '1000')}:{values.get('KITT_GID', '1000')}"
