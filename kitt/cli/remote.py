"""`kitt remote`: GPU servers reached over SSH, for campaigns run there directly (no agent)."""

from datetime import UTC, datetime
from pathlib import Path

import click
import msgspec

from kitt.cli.common import print_json, settings
from kitt.cli.storage import import_
from kitt.remote import campaigns, hosts, setup
from kitt.remote.hosts import RemoteError, RemoteHost
from kitt.remote.ssh import Ssh


def _fail(exc: RemoteError) -> click.ClickException:
    return click.ClickException(str(exc))


def _home() -> Path:
    return settings().prepare_home()


def _ssh(name: str) -> tuple[RemoteHost, Ssh]:
    host = hosts.find(_home(), name)
    return host, Ssh(_home(), host)


@click.group("remote")
def remote_group() -> None:
    """Remote hosts over SSH: set KITT up there, run campaigns there, bring their results here."""


@remote_group.command("setup")
@click.argument("target", metavar="USER@HOST")
@click.option("--name", help="What KITT calls the host (default: HOST).")
@click.option("--port", default=22, show_default=True, type=click.IntRange(1, 65535))
@click.option("--ssh-key", type=click.Path(exists=True, dir_okay=False), help="A private key to log in with.")
@click.option("--no-install", is_flag=True, help="Check the host and record it; KITT is there already.")
@click.option(
    "--venv", default=".kitt-venv", show_default=True, help="KITT's venv, relative to the remote HOME."
)
def remote_setup(
    target: str, name: str | None, port: int, ssh_key: str | None, no_install: bool, venv: str
) -> None:
    """Check the host (Python, Docker, GPUs, disk), install this KITT there, and record it in hosts.yaml."""
    try:
        user, hostname = hosts.parse_target(target)
        label = name or hostname
        if not hosts.NAME.match(label):
            raise RemoteError(f"a host name is letters, digits, '.', '-' or '_', not {label!r}")
        key = str(Path(ssh_key).resolve()) if ssh_key else None
        host = RemoteHost(name=label, user=user, hostname=hostname, port=port, ssh_key=key, venv=venv,
                          added_at=datetime.now(UTC))  # fmt: skip
        ssh = Ssh(_home(), host, first_contact=True)
        report = setup.probe(ssh, host)
        click.echo(_summary(label, report))
        for warning in report.warnings():
            click.echo(f"  warning: {warning}")
        if no_install:
            if report.kitt is None:
                raise RemoteError(f"no KITT in {venv} on {label}: run setup without --no-install")
            version = report.kitt
        else:
            click.echo(f"installing KITT into {venv} on {label} …")
            version = setup.install(ssh, host, report)
        hosts.put(_home(), msgspec.structs.replace(host, kitt_version=version, gpus=report.gpus))
    except RemoteError as exc:
        raise _fail(exc) from None
    click.echo(f"{label}: KITT {version}, recorded in {hosts.path(_home())}")


def _summary(label: str, report: setup.HostReport) -> str:
    gpus = ", ".join(report.gpus) or "none"
    free = f"{report.disk_free_gib:.1f} GiB" if report.disk_free_gib is not None else "unknown"
    docker = report.docker or "not answering"
    return f"{label}: python {report.python or 'missing'}, docker {docker}, GPUs: {gpus}, free: {free}"


@remote_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def remote_list(as_json: bool) -> None:
    """The hosts in hosts.yaml."""
    try:
        found = hosts.load(_home()).hosts
    except RemoteError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(found)
        return
    for h in found:
        gpus = ", ".join(h.gpus) or "no GPU"
        click.echo(f"{h.name:<20} {h.target}:{h.port:<6} KITT {h.kitt_version or '?':<10} {gpus}")


@remote_group.command("test")
@click.argument("name")
def remote_test(name: str) -> None:
    """Check that the host answers over SSH and runs KITT."""
    try:
        host, ssh = _ssh(name)
        report = setup.probe(ssh, host)
    except RemoteError as exc:
        raise _fail(exc) from None
    if report.kitt is None:
        raise click.ClickException(f"{name} answers over SSH but has no KITT in {host.venv}")
    click.echo(f"{name}: reachable, KITT {report.kitt}, docker {report.docker or 'not answering'}")


@remote_group.command("remove")
@click.argument("name")
def remote_remove(name: str) -> None:
    """Forget the host (what is installed there stays)."""
    try:
        host = hosts.drop(_home(), name)
    except RemoteError as exc:
        raise _fail(exc) from None
    click.echo(f"{host.name} removed")


@remote_group.group("engines")
def remote_engines() -> None:
    """Engines on a remote host."""


@remote_engines.command("setup")
@click.argument("engine")
@click.option("--host", "name", required=True)
@click.option("--dry-run", is_flag=True, help="Say what would be pulled or built there; do nothing.")
def remote_engines_setup(engine: str, name: str, dry_run: bool) -> None:
    """`kitt engines setup ENGINE` on the host (pull or build its image there)."""
    try:
        _, ssh = _ssh(name)
        done = ssh.kitt(
            "engines", "setup", engine, *(["--dry-run"] if dry_run else []), check=False, timeout=3600
        )
    except RemoteError as exc:
        raise _fail(exc) from None
    click.echo(done.stdout, nl=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise click.ClickException(f"on {name}: {lines[-1] if lines else 'engines setup failed'}")


@remote_group.command("run")
@click.argument("path", metavar="CAMPAIGN.yaml", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", "name", required=True)
@click.option("--dry-run", is_flag=True, help="Print the plan the host would run; start nothing.")
@click.option("--wait", is_flag=True, help="Follow its log until it ends; exit 1 unless it succeeded.")
def remote_run(path: Path, name: str, dry_run: bool, wait: bool) -> None:
    """Run a campaign on the host, detached (it goes on if this terminal closes)."""
    try:
        host, ssh = _ssh(name)
        if dry_run:
            click.echo(campaigns.dry_run(ssh, path), nl=False)
            return
        run = campaigns.start(ssh, host, path)
        hosts.put(_home(), msgspec.structs.replace(host, last_run=run))
        click.echo(f"campaign started on {name} (pid {run.pid}); log: {run.log}")
        if not wait:
            click.echo(
                f"follow it with: kitt remote logs --host {name}; results: kitt remote sync --host {name}"
            )
            return
        status = campaigns.follow(ssh, run, lambda text: click.echo(text, nl=False))
    except RemoteError as exc:
        raise _fail(exc) from None
    if status != 0:
        raise click.ClickException(f"the campaign on {name} did not succeed (exit status {status})")


def _last_run(host: RemoteHost):
    if host.last_run is None:
        raise RemoteError(
            f"no campaign started on {host.name} from here: `kitt remote run … --host {host.name}`"
        )
    return host.last_run


@remote_group.command("status")
@click.option("--host", "name", required=True)
@click.option("--json", "as_json", is_flag=True)
def remote_status(name: str, as_json: bool) -> None:
    """The host's campaigns, and whether the one started from here still runs."""
    try:
        host, ssh = _ssh(name)
        found = campaigns.campaigns(ssh)
        run = host.last_run
        code = campaigns.exit_status(ssh, run) if run else None
    except RemoteError as exc:
        raise _fail(exc) from None
    state = "none started from here" if run is None else ("running" if code is None else f"ended ({code})")
    if as_json:
        print_json({"host": name, "last_run": run, "last_run_state": state, "campaigns": found})
        return
    click.echo(f"{name}: last campaign started from here: {state}")
    for c in found:
        click.echo(f"  {c.campaign_id}  {c.name:<24} {c.status:<24} {c.finished_items}/{c.total_items} "
                   f"({c.failed_items} failed)")  # fmt: skip


@remote_group.command("logs")
@click.option("--host", "name", required=True)
@click.option("--tail", "lines", default=50, show_default=True, type=click.IntRange(1, 100_000))
def remote_logs(name: str, lines: int) -> None:
    """The end of the log of the campaign started there from here."""
    try:
        host, ssh = _ssh(name)
        click.echo(campaigns.log_tail(ssh, _last_run(host), lines), nl=False)
    except RemoteError as exc:
        raise _fail(exc) from None


@remote_group.command("sync")
@click.option("--host", "name", required=True)
@click.option("-o", "--output", "target", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def remote_sync(ctx: click.Context, name: str, target: Path) -> None:
    """Bring the host's results here: exported there, copied into DIR, imported into this KARR as events."""
    try:
        host, ssh = _ssh(name)
        local = campaigns.export(ssh, host, target)
    except RemoteError as exc:
        raise _fail(exc) from None
    click.echo(f"copied {local}")
    ctx.invoke(import_, files=(local,), as_json=False)
