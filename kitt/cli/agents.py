"""`kitt agents`: provision, list, inspect, rotate and revoke agents' credentials."""

import asyncio
import json
import re

import click
from rich.table import Table

from kitt.agent import testagents
from kitt.agent.simulated import SimulatedHost
from kitt.auth import credentials, tokens
from kitt.cli.common import async_command, console, print_json, settings
from kitt.commands.client import send
from kitt.commands.messages import ChangeAgentSettings, Command, ProvisionAgent, RevokeAgent, RotateAgentToken
from kitt.events import subjects
from kitt.events.types import Scalar
from kitt.runtime import instance
from kitt.runtime.embedded import Session, session
from kitt.storage import fleet
from kitt.storage.checkpoints import wait_for_checkpoint


@click.group("agents")
def agents_group() -> None:
    """Agents: the GPU hosts that run tests for this server."""


def _name(name: str) -> str:
    try:
        return subjects.token(name, "agent name")
    except subjects.InvalidSubjectToken as exc:
        raise click.ClickException(str(exc)) from None


async def _apply(s: Session, command: Command) -> None:
    """Send an agent command and return once the agents read model has it."""
    reply = await send(s.nc, command)
    await asyncio.shield(wait_for_checkpoint(s.engine, "agents", reply.seq))


def _agent_url(s: Session) -> tuple[str, str | None]:
    """Where agents connect, and the CA they check the server with (from the runtime or its record)."""
    if s.runtime is not None:
        return s.runtime.agent_url, s.runtime.agent_ca
    running = instance.find_running(settings().instance_file)
    if running is not None and running.agent_url:
        return running.agent_url, running.agent_ca
    connected = s.nc.connected_url
    return (credentials.url_without(connected.geturl()) if connected else "nats://HOST:PORT"), None


def install_lines(token: str, api_url: str) -> list[str]:
    """The shell lines that install an agent from the API. `export` and `printf` are the shell's own, so
    the token reaches curl on its stdin and is on no command line another user's `ps` shows."""
    return [
        f"export KITT_AGENT_TOKEN={token}",
        """printf 'Authorization: Bearer %s\\n' "$KITT_AGENT_TOKEN" | curl -fsSL -H @- """
        f"{api_url}/api/v1/agent/install.sh | sh",
    ]


def _show_token(name: str, token: str, nats_url: str, ca: str | None) -> None:
    click.echo(f"agent {name}: token (shown once; only its SHA-256 is stored):\n  {token}")
    running = instance.find_running(settings().instance_file)
    if running is not None and running.api_url:
        lines = install_lines(token, running.api_url)
        click.echo("install it on the agent's host:\n" + "".join(f"  {line}\n" for line in lines), nl=False)
    tls = f" --tls-ca {ca}" if ca else ""
    click.echo(
        "or, with KITT installed there (the token from KITT_AGENT_TOKEN):\n"
        f"  kitt-agent init --server {nats_url} --name {name}{tls}"
    )
    if ca:
        click.echo(f"(copy {ca}, the server's CA certificate, to the agent's host)")


@agents_group.command("provision")
@click.argument("name")
@click.option(
    "--token-hash", default=None, metavar="SHA256", help="The SHA-256 (hex) of a token made elsewhere."
)
@async_command
async def provision(name: str, token_hash: str | None) -> None:
    """Create agent NAME and print its token once (with --token-hash: no token is made or shown)."""
    if token_hash is not None and not re.fullmatch(r"[0-9a-f]{64}", token_hash):
        raise click.ClickException("--token-hash is a SHA-256 in 64 lowercase hex digits")
    token = tokens.new() if token_hash is None else None
    async with session(settings()) as s:
        digest = token_hash or tokens.digest(token or "")
        await _apply(s, ProvisionAgent(name=_name(name), token_hash=digest))
        url, ca = _agent_url(s)
    if token is None:
        click.echo(f"agent {name} provisioned with the token whose SHA-256 was given")
        return
    _show_token(name, token, url, ca)


@agents_group.command("create-test")
@click.argument("name")
@click.option("--gpu", default="H100 80GB", show_default=True, help="GPU model the agent pretends to have.")
@click.option("--gpus", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--arch", default="x86_64", show_default=True, type=click.Choice(["x86_64", "aarch64", "arm64"])
)
@click.option("--memory-gib", default=80, show_default=True, type=click.IntRange(1, 4096))
@click.option("--speed", default=1.0, show_default=True, help="Scale of the simulated delays.")
@click.option("--fail-on", multiple=True, help="Fail runs of models whose path contains this (repeatable).")
@async_command
async def create_test(
    name: str, gpu: str, gpus: int, arch: str, memory_gib: int, speed: float, fail_on: tuple[str, ...]
) -> None:
    """A simulated agent, online whenever KITT runs; every result it produces is marked simulated."""
    host = SimulatedHost(
        name=_name(name),
        gpu=gpu,
        gpus=gpus,
        arch="aarch64" if arch == "arm64" else arch,
        gpu_memory_mib=memory_gib * 1024,
        speed=speed,
        fail_on=fail_on,
    )
    token = tokens.new()
    cfg = settings()
    testagents.save(cfg.home, testagents.TestAgentFile(host=host, token=token))
    async with session(cfg) as s:
        await _apply(s, ProvisionAgent(name=host.name, token_hash=tokens.digest(token)))
        for _ in range(150):  # it registers (with its hardware) as soon as the runtime starts it
            found = await fleet.agent(s.engine, host.name)
            if found is not None and found.status == "registered":
                break
            await asyncio.sleep(0.1)
    click.echo(f"test agent {name}: {gpus} x {gpu} ({host.arch}), simulated; online whenever KITT runs")


@agents_group.command("set")
@click.argument("name")
@click.argument("pairs", nargs=-1, required=True)
@async_command
async def set_settings(name: str, pairs: tuple[str, ...]) -> None:
    """Change agent NAME's settings (KEY=VALUE: model_dir, nfs_mount, cleanup_models,
    heartbeat_s); they reach the agent while it runs."""
    values: dict[str, Scalar] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise click.ClickException(f"expected KEY=VALUE, not {pair!r}")
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    async with session(settings()) as s:
        await _apply(s, ChangeAgentSettings(agent_id=_name(name), settings=values))
    click.echo(f"agent {name}: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items()))


@agents_group.command("rotate")
@click.argument("name")
@async_command
async def rotate(name: str) -> None:
    """Give agent NAME a new token; the old one stops working at once."""
    token = tokens.new()
    async with session(settings()) as s:
        await _apply(s, RotateAgentToken(agent_id=_name(name), token_hash=tokens.digest(token)))
        url, ca = _agent_url(s)
    _show_token(name, token, url, ca)


@agents_group.command("revoke")
@click.argument("name")
@click.option("--reason", default="")
@async_command
async def revoke(name: str, reason: str) -> None:
    """Revoke agent NAME: its token stops working and it gets no more tests."""
    async with session(settings()) as s:
        await _apply(s, RevokeAgent(agent_id=_name(name), reason=reason))
    click.echo(f"revoked agent {name}")


@agents_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def list_agents(as_json: bool) -> None:
    async with session(settings()) as s:
        found = [await fleet.presence(s.nc, a) for a in await fleet.agents(s.engine)]
    if as_json:
        print_json(found)
        return
    table = Table("name", "status", "online", "hardware", "running", "simulated")
    for a in found:
        hardware = a.hardware
        gpus = ", ".join(g.name for g in hardware.gpus) if hardware and hardware.gpus else "-"
        where = f"{hardware.arch}, {gpus}" if hardware else "-"
        table.add_row(
            a.name,
            a.status,
            "yes" if a.online else "no",
            where,
            ",".join(a.running) or "-",
            "yes" if a.simulated else "",
        )
    console().print(table)


@agents_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def show(name: str, as_json: bool) -> None:
    async with session(settings()) as s:
        found = await fleet.agent(s.engine, _name(name))
        if found is None:
            raise click.ClickException(f"unknown agent {name!r} (see `kitt agents list`)")
        found = await fleet.presence(s.nc, found)
        tests = await fleet.tests(s.engine, agent_name=name, limit=10)
    if as_json:
        print_json({"agent": found, "tests": tests})
        return
    print_json(found)
    for t in tests:
        click.echo(f"{t.test_id}  {t.status:10}  {t.engine}  {t.model}")
