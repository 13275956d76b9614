"""`kitt-agent`: set up, run and inspect the agent on a GPU host."""

import asyncio
import os
import signal
import time
from pathlib import Path

import click

from kitt import __version__
from kitt import logging as kitt_logging
from kitt.agent import config as agent_config
from kitt.agent import service, updating
from kitt.agent.daemon import AgentDaemon, write_pid
from kitt.auth import tokens
from kitt.engines import specs
from kitt.engines.native import find_binary
from kitt.events.subjects import InvalidSubjectToken
from kitt.hardware import fingerprint
from kitt.yamlfile import YamlError


def _home() -> Path:
    return agent_config.default_path().parent


def _load(path: Path | None) -> agent_config.AgentConfig:
    try:
        return agent_config.load(path)
    except YamlError as exc:
        raise click.ClickException(f"{exc} (run `kitt-agent init` first)") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="kitt-agent")
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), help="Default: $KITT_HOME/agent.yaml"
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """KITT agent for GPU hosts: receives tests over JetStream and reports results."""
    kitt_logging.configure("info", json=None)
    ctx.obj = config_path


@cli.command()
@click.option(
    "--server", required=True, help="The KITT server's agent URL, e.g. wss://kitt.lab:4443 (from install.sh)."
)
@click.option(
    "--token",
    required=True,
    envvar="KITT_AGENT_TOKEN",
    help="The token from `kitt agents provision NAME` (or KITT_AGENT_TOKEN, kept out of the process list).",
)
@click.option("--name", default=None, help="The name it was provisioned as (default: the hostname).")
@click.option("--model-dir", default=None, help="Where relative model paths resolve.")
@click.option("--heartbeat", "heartbeat_s", default=10.0, show_default=True)
@click.option(
    "--tls-ca", type=click.Path(exists=True, dir_okay=False), help="CA for a wss:// or tls:// server."
)
@click.option("--capacity", default=1, show_default=True, type=click.IntRange(1, 64), help="Tests at once.")
@click.option("--api", default=None, help="The server's HTTP API (for `kitt-agent update`).")
@click.pass_obj
def init(
    config_path: Path | None,
    server: str,
    token: str,
    name: str | None,
    model_dir: str | None,
    heartbeat_s: float,
    tls_ca: str | None,
    capacity: int,
    api: str | None,
) -> None:
    """Write the agent's configuration (mode 0600)."""
    try:
        config = agent_config.AgentConfig(
            name=name or os.uname().nodename.split(".")[0],
            server=server,
            token=token,
            model_dir=model_dir,
            heartbeat_s=heartbeat_s,
            tls_ca=str(Path(tls_ca).resolve()) if tls_ca else None,
            capacity=capacity,
            api=api.rstrip("/") if api else None,
        )
    except (tokens.TokenFormatError, InvalidSubjectToken, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    path = agent_config.save(config, config_path)
    click.echo(f"wrote {path} (0600) for agent {config.name}; start it with `kitt-agent start`")


@cli.command()
@click.pass_obj
def start(config_path: Path | None) -> None:
    """Run the agent in the foreground until SIGTERM/SIGINT (systemd runs this)."""
    config = _load(config_path)
    home = _home()
    pidfile = write_pid(home)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        path = config_path or agent_config.default_path()
        await AgentDaemon(config, home, config_path=path).run(stop)

    try:
        asyncio.run(main())
    except (OSError, TimeoutError) as exc:
        raise click.ClickException(f"cannot reach {config.server}: {exc}") from None
    finally:
        pidfile.unlink(missing_ok=True)


def _pid() -> int | None:
    pidfile = _home() / "agent.pid"
    try:
        pid = int(pidfile.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


@cli.command()
def stop() -> None:
    """Stop the running agent (SIGTERM; its test is cancelled and reported)."""
    pid = _pid()
    if pid is None:
        raise click.ClickException("no agent is running")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _pid() is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    click.echo("stopped" if _pid() is None else "still stopping (a test is being cancelled)")


@cli.command()
@click.pass_obj
def status(config_path: Path | None) -> None:
    """Whether the agent runs, and its configuration."""
    config = _load(config_path)
    pid = _pid()
    click.echo(f"agent {config.name}: {'running (pid ' + str(pid) + ')' if pid else 'not running'}")
    click.echo(
        f"server {config.server}; model dir {config.model_dir or '-'}; heartbeat {config.heartbeat_s:g} s"
    )


@cli.command()
def preflight() -> None:
    """What this host offers: hardware fingerprint and engines with a native binary."""
    details = fingerprint.detect(_home())
    hardware = details.hardware
    gpus = ", ".join(g.name for g in hardware.gpus) or "none"
    click.echo(f"host {hardware.hostname} ({hardware.arch}), {hardware.cpu_cores} cores, GPUs: {gpus}")
    for spec in specs.ENGINES.values():
        binary = find_binary(spec)
        archs = (
            "yes" if hardware.arch in spec.archs else f"no ({hardware.arch} not in {', '.join(spec.archs)})"
        )
        click.echo(f"  {spec.name}: platform {archs}; native binary {binary or '-'}")


@cli.command()
@click.option("--restart", is_flag=True, help="Restart the agent on the new package.")
@click.pass_obj
def update(config_path: Path | None, restart: bool) -> None:
    """Install the agent package the server serves (its SHA-256 checked) into this agent's environment."""
    config = _load(config_path)
    if not config.api:
        raise click.ClickException("agent.yaml has no `api` (re-run `kitt-agent init --api URL`)")
    try:
        installed = updating.install_from(config.api, config.token, ca=config.tls_ca)
    except updating.UpdateError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"installed {installed.filename} (sha256 {installed.sha256[:16]}…, checked)")
    if restart:
        click.echo(updating.restart(_home(), _pid()))


@cli.group("service")
def service_group() -> None:
    """Run the agent as a systemd service that restarts on failure."""


@service_group.command("install")
@click.option("--system", is_flag=True, help="A system unit (/etc/systemd/system) instead of a user unit.")
@click.option("--unit-dir", type=click.Path(path_type=Path), help="Write the unit here instead.")
@click.option("--no-start", is_flag=True, help="Write the unit only; do not enable or start it.")
def service_install(system: bool, unit_dir: Path | None, no_start: bool) -> None:
    target = service.install(_home(), system=system, folder=unit_dir)
    click.echo(f"wrote {target}")
    if no_start or unit_dir is not None:
        return
    for args in (("daemon-reload",), ("enable", "--now", service.UNIT)):
        done = service.systemctl(system, *args)
        if done is None:
            click.echo("systemctl not found: start the agent with `kitt-agent start`")
            return
        if done.returncode != 0:
            raise click.ClickException(f"systemctl {' '.join(args)}: {done.stderr.strip()}")
    click.echo(f"enabled and started {service.UNIT}")


@service_group.command("uninstall")
@click.option("--system", is_flag=True)
@click.option("--unit-dir", type=click.Path(path_type=Path))
def service_uninstall(system: bool, unit_dir: Path | None) -> None:
    if unit_dir is None:
        service.systemctl(system, "disable", "--now", service.UNIT)
    removed = service.uninstall(system=system, folder=unit_dir)
    click.echo(f"removed {removed}" if removed else "no unit was installed")


@service_group.command("status")
@click.option("--system", is_flag=True)
def service_status(system: bool) -> None:
    done = service.systemctl(system, "status", "--no-pager", service.UNIT)
    if done is None:
        raise click.ClickException("systemctl not found on this host")
    click.echo(done.stdout or done.stderr)


@cli.group("test")
def test_group() -> None:
    """Tests on this agent."""


@test_group.command("stop")
@click.argument("test_id")
def test_stop(test_id: str) -> None:
    """Stop the running test ID (the engine is stopped; the test is recorded as cancelled)."""
    folder = _home() / "agent-state" / "stop"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / test_id).touch()
    click.echo(f"asked the agent to stop {test_id}")


@test_group.command("list")
def test_list() -> None:
    """Tests this agent has started (their results are in KARR on the server)."""
    state = _home() / "agent-state"
    for marker in sorted(state.glob("*.started"), key=lambda p: p.stat().st_mtime):
        click.echo(f"{marker.stem}  started {time.ctime(marker.stat().st_mtime)}")


def main() -> None:
    cli(prog_name="kitt-agent")


if __name__ == "__main__":
    main()
