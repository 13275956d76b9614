"""`kitt monitoring`: Prometheus + Grafana + InfluxDB for one KITT or a fleet of them, with Docker Compose."""

import os
import shutil
from pathlib import Path

import click

from kitt.cli import compose_project
from kitt.cli.common import print_json, settings
from kitt.cli.compose_project import failure
from kitt.stack import compose
from kitt.stack.monitoring import MonitoringOptions, generate, load, stacks
from kitt.stack.options import StackError


@click.group("monitoring")
def monitoring_group() -> None:
    """Monitoring stacks: Prometheus scraping KITT's /metrics, InfluxDB fed by KITT's influxdb projection,
    Grafana with KITT's dashboards."""


def _token(token_file: Path | None) -> str:
    if token_file is not None:
        return token_file.read_text()
    token = os.environ.get("KITT_AUTH_TOKEN")
    if not token:
        raise click.ClickException(
            "Prometheus needs a KITT API token to scrape /metrics: "
            "pass --token-file FILE or set KITT_AUTH_TOKEN"
        )
    return token


@monitoring_group.command("generate")
@click.argument("name")
@click.option(
    "-t",
    "--target",
    "targets",
    multiple=True,
    metavar="HOST:PORT",
    help="A KITT API to scrape (repeat for several; host.docker.internal is this host).",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file holding the API token Prometheus sends (default: KITT_AUTH_TOKEN).",
)
@click.option("--scheme", type=click.Choice(["http", "https"]), default="http", show_default=True)
@click.option("--interval", default="15s", show_default=True, help="Prometheus' scrape interval.")
@click.option("--grafana-port", default=3000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--influxdb-port", default=8086, show_default=True, type=click.IntRange(1, 65535))
@click.option("--force", is_flag=True, help="Replace a monitoring stack of that name (new passwords).")
def monitoring_generate(
    name: str, targets: tuple[str, ...], token_file: Path | None, scheme: str, interval: str,
    grafana_port: int, influxdb_port: int, force: bool,
) -> None:  # fmt: skip
    """Write KITT_HOME/monitoring/NAME/: compose file, Prometheus, InfluxDB and Grafana configuration."""
    home = settings().prepare_home()
    try:
        options = MonitoringOptions(
            name=name, targets=targets, scheme=scheme, interval=interval,
            grafana_port=grafana_port, influxdb_port=influxdb_port,
        )  # fmt: skip
        where = generate(home, options, _token(token_file), force=force)
    except StackError as exc:
        raise failure(exc) from None
    checked = compose_project.validated(where, options.project)
    click.echo(
        f"monitoring {name}: {where}" + ("" if checked else " (unchecked: Docker Compose is not installed)")
    )
    click.echo(f"start it with: kitt monitoring start --name {name}")
    click.echo(
        f"feed it KITT's figures: KITT_INFLUXDB_URL=http://THIS-HOST:{influxdb_port} KITT_INFLUXDB_USER=kitt "
        f"and KITT_INFLUXDB_PASSWORD set to INFLUXDB_KITT_PASSWORD from {where / '.env'}"
    )


def _loaded(name: str) -> tuple[MonitoringOptions, Path]:
    try:
        return load(settings().prepare_home(), name)
    except StackError as exc:
        raise failure(exc) from None


@monitoring_group.command("start")
@click.option("--name", required=True)
@click.option("--without", multiple=True, metavar="SERVICE", help="Leave this service out (e.g. grafana).")
def monitoring_start(name: str, without: tuple[str, ...]) -> None:
    """Start it (Prometheus' and InfluxDB's images are built the first time)."""
    options, where = _loaded(name)
    try:
        compose.up(where, options.project, without)
    except StackError as exc:
        raise failure(exc) from None
    click.echo(f"monitoring {name} started")
    if "grafana" not in without:
        click.echo(
            f"Grafana: http://localhost:{options.grafana_port} (admin; GRAFANA_ADMIN_PASSWORD in .env)"
        )


@monitoring_group.command("stop")
@click.option("--name", required=True)
def monitoring_stop(name: str) -> None:
    """Stop its containers (they, and their data, stay)."""
    options, where = _loaded(name)
    compose_project.stop("monitoring", name, where, options.project)


@monitoring_group.command("status")
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True)
def monitoring_status(name: str, as_json: bool) -> None:
    """Its services and their state."""
    options, where = _loaded(name)
    heading = f"monitoring {name} ({where}), scraping {', '.join(options.targets)}"
    compose_project.status(heading, name, where, options.project, options, as_json=as_json)


@monitoring_group.command("list-stacks")
@click.option("--json", "as_json", is_flag=True)
def monitoring_list(as_json: bool) -> None:
    """The monitoring stacks generated in this KITT home."""
    home = settings().prepare_home()
    found = [load(home, name) for name in stacks(home)]
    docker = shutil.which("docker") is not None
    running = [compose.running(options.project) if docker else False for options, _ in found]
    if as_json:
        print_json([
            {"name": o.name, "folder": str(w), "running": r, "targets": list(o.targets)}
            for (o, w), r in zip(found, running, strict=True)
        ])  # fmt: skip
        return
    for (options, where), up in zip(found, running, strict=True):
        state = "running" if up else "stopped"
        click.echo(f"{options.name:<20} {state:<8} {', '.join(options.targets)}  {where}")


@monitoring_group.command("remove-stack")
@click.option("--name", required=True)
@click.option("--delete-files", is_flag=True, help="Also delete its folder and its data volumes.")
def monitoring_remove(name: str, delete_files: bool) -> None:
    """Remove its containers and network (its data too, with --delete-files)."""
    options, where = _loaded(name)
    compose_project.remove("monitoring", name, where, options.project, delete_files=delete_files)
