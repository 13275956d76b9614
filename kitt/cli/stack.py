"""`kitt stack`: generate, start, stop, inspect and remove docker-compose deployments of KITT."""

import shutil
import time
from pathlib import Path

import click

from kitt.cli import compose_project
from kitt.cli.common import print_json, settings
from kitt.cli.compose_project import failure
from kitt.stack import compose
from kitt.stack.generate import SCRAPER, agent_token_hash, generate, load, scraper_token_hash, stacks, user_of
from kitt.stack.options import AGENT_NAME, StackError, StackOptions, check_ports


@click.group("stack")
def stack_group() -> None:
    """Deployments of KITT with Docker Compose: NATS (TLS, auth callout), PostgreSQL, serve, project."""


@stack_group.command("generate")
@click.argument("name")
@click.option("--web", is_flag=True, help="Publish the API and web UI on --port (behind a generated token).")
@click.option("--postgres", is_flag=True, help="PostgreSQL for KARR (else SQLite in the stack's volume).")
@click.option("--monitoring", is_flag=True, help="Prometheus, InfluxDB (fed by the projector) and Grafana.")
@click.option("--grafana-port", default=3000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--agent", is_flag=True, help="A kitt-agent for this host (engines as sibling containers).")
@click.option("--models", type=click.Path(exists=True, file_okay=False, resolve_path=True),
              help="The host folder the agent sees as /models (read-only).")  # fmt: skip
@click.option("--nats-replicas", type=click.Choice(["1", "3"]), default="1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--nats-port", default=4222, show_default=True, type=click.IntRange(1, 65535))
@click.option("--public-url", default=None, help="The URL agents and browsers reach this host by.")
@click.option("--force", is_flag=True, help="Replace a stack of that name (its secrets are made anew).")
def stack_generate(
    name: str,
    web: bool,
    postgres: bool,
    monitoring: bool,
    grafana_port: int,
    agent: bool,
    models: str | None,
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
            nats_port=nats_port, public_url=public_url, monitoring=monitoring, grafana_port=grafana_port,
            agent=agent, models=models,
        )  # fmt: skip
        where = generate(home, options, force=force)
    except StackError as exc:
        raise failure(exc) from None
    checked = compose_project.validated(where, options.project)
    click.echo(
        f"stack {name}: {where}" + ("" if checked else " (unchecked: Docker Compose is not installed)")
    )
    click.echo(f"start it with: kitt stack start --name {name}")


def _loaded(name: str) -> tuple[StackOptions, Path]:
    try:
        return load(settings().prepare_home(), name)
    except StackError as exc:
        raise failure(exc) from None


@stack_group.command("start")
@click.option("--name", required=True)
@click.option("--without", multiple=True, metavar="SERVICE", help="Leave this service out (e.g. grafana).")
def stack_start(name: str, without: tuple[str, ...]) -> None:
    """Start the stack (PostgreSQL's image is built the first time)."""
    options, where = _loaded(name)
    try:
        compose.docker_ready()
        compose.command()  # compose missing is said before a missing image
        if not compose.image_present("kitt"):
            raise StackError("the kitt image is missing: `docker build -t kitt .` in a KITT checkout")
        if not compose.running(options.project):
            check_ports(options)
        compose.up(where, options.project, without)
        if options.agent and "agent" not in without:
            _provision_agent(options, where)
        if options.monitoring:
            _in_serve(
                options, where, ["users", "issue", SCRAPER, "--role", "viewer"], scraper_token_hash(where)
            )
    except StackError as exc:
        raise failure(exc) from None
    click.echo(f"stack {name} started")
    if options.monitoring and "grafana" not in without:
        click.echo(
            f"Grafana: http://localhost:{options.grafana_port} (admin; GRAFANA_ADMIN_PASSWORD in .env)"
        )
    if options.web:
        click.echo(
            f"web UI and API: http://localhost:{options.port} (the admin token is KITT_AUTH_TOKEN in .env)"
        )


def _provision_agent(options: StackOptions, where: Path) -> None:
    """Provision the stack's agent by its token's SHA-256 once serve answers (again on a later start: an
    agent already provisioned is left as it is)."""
    _in_serve(options, where, ["agents", "provision", AGENT_NAME], agent_token_hash(where))


def _in_serve(
    options: StackOptions, where: Path, command: list[str], token_hash: str, wait_s: float = 180
) -> None:
    """Run `kitt COMMAND --token-hash H` in the serve container once it answers (a token registered by
    its hash only: the token stays in its file)."""
    args = [*command, "--token-hash", token_hash]
    deadline = time.monotonic() + wait_s
    while True:
        try:
            compose.compose(
                where, options.project, "exec", "-T", "--user", user_of(where), "serve", "kitt", *args
            )
            return
        except StackError as exc:
            if "already provisioned" in str(exc):
                return
            if time.monotonic() > deadline:
                raise StackError(f"`kitt {' '.join(command)}` in the stack failed: {exc}") from None
        time.sleep(2)


@stack_group.command("stop")
@click.option("--name", required=True)
def stack_stop(name: str) -> None:
    """Stop the stack's containers (they, and its data, stay)."""
    options, where = _loaded(name)
    compose_project.stop("stack", name, where, options.project)


@stack_group.command("status")
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True)
def stack_status(name: str, as_json: bool) -> None:
    """The stack's services and their state."""
    options, where = _loaded(name)
    compose_project.status(f"stack {name} ({where})", name, where, options.project, options, as_json=as_json)


@stack_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def stack_list(as_json: bool) -> None:
    """The stacks generated in this KITT home."""
    home = settings().prepare_home()
    rows = []
    for name in stacks(home):
        options, where = load(home, name)
        running = compose.running(options.project) if shutil.which("docker") else False
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
    compose_project.remove("stack", name, where, options.project, delete_files=delete_files)


@stack_group.command("exec", context_settings={"ignore_unknown_options": True})
@click.option("--name", required=True)
@click.argument("args", nargs=-1, required=True, type=click.UNPROCESSED)
def stack_exec(name: str, args: tuple[str, ...]) -> None:
    """Run `kitt ARGS` in the stack's serve container, as the stack's user (`agents create-test sim`,
    `quicktest run …`, `storage list`)."""
    options, where = _loaded(name)
    owner = user_of(where)
    try:
        out = compose.compose(
            where, options.project, "exec", "-T", "--user", owner, "serve", "kitt", *args, timeout=3600
        )
    except StackError as exc:
        raise failure(exc) from None
    click.echo(out, nl=False)
