"""`kitt users`: API tokens for people and tools other than the admin (roles admin or viewer).

A token is shown once and stored as its SHA-256; `--token-hash` registers a token made elsewhere (a
stack's Prometheus gets a viewer token this way, and the token never leaves its file).
"""

import asyncio
import re

import click
from rich.table import Table

from kitt.cli.common import async_command, console, print_json, settings
from kitt.commands.client import send
from kitt.commands.messages import Command, IssueUserToken, RevokeUserToken
from kitt.events.states import ROLES
from kitt.runtime.embedded import Session, session
from kitt.storage import users
from kitt.storage.checkpoints import wait_for_checkpoint


@click.group("users")
def users_group() -> None:
    """API tokens for users and tools: issue, list, revoke."""


async def _apply(s: Session, command: Command) -> None:
    reply = await send(s.nc, command)
    await asyncio.shield(wait_for_checkpoint(s.engine, "users", reply.seq))


@users_group.command("issue")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--token-hash", default=None, metavar="SHA256", help="The SHA-256 of a token made elsewhere.")
@async_command
async def issue(name: str, role: str, token_hash: str | None) -> None:
    """Give NAME a new API token (replacing an earlier one) and print it once (--token-hash: none shown)."""
    if token_hash is not None and not re.fullmatch(r"[0-9a-f]{64}", token_hash):
        raise click.ClickException("--token-hash is a SHA-256 in 64 lowercase hex digits")
    token = users.new() if token_hash is None else None
    chosen = next(r for r in ROLES if r == role)
    digest = token_hash or users.digest(token or "")
    async with session(settings()) as s:
        await _apply(s, IssueUserToken(name=name, token_hash=digest, role=chosen))
    if token is None:
        click.echo(f"user {name} ({role}) has the token whose SHA-256 was given")
    else:
        click.echo(f"user {name} ({role}): token (shown once; only its SHA-256 is stored):\n  {token}")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def list_users(as_json: bool) -> None:
    async with session(settings()) as s:
        found = await users.names(s.engine)
    if as_json:
        print_json([{"name": n, "issued_at": at, "role": role} for n, at, role in found])
        return
    table = Table("user", "role", "issued")
    for name, at, role in found:
        table.add_row(name, role, str(at))
    console().print(table)


@users_group.command("revoke")
@click.argument("name")
@async_command
async def revoke(name: str) -> None:
    """End NAME's token (and every browser session opened with it)."""
    async with session(settings()) as s:
        await _apply(s, RevokeUserToken(name=name))
    click.echo(f"user {name}: token revoked")
