"""The credential of this machine's own agent: `$KITT_HOME/local-agent.json` (0600: it holds the token)."""

import os
from pathlib import Path

import msgspec
from nats.aio.client import Client

from kitt.auth import tokens
from kitt.campaigns.plan import LOCAL_AGENT
from kitt.commands.client import CommandFailed, send
from kitt.commands.messages import ProvisionAgent, RotateAgentToken

NAME = LOCAL_AGENT


class LocalAgentFile(msgspec.Struct, frozen=True, kw_only=True):
    token: str


def path(home: Path) -> Path:
    return home / "local-agent.json"


def load(home: Path) -> LocalAgentFile:
    return msgspec.json.decode(path(home).read_bytes(), type=LocalAgentFile)


async def ensure(home: Path, nc: Client) -> bool:
    """Provision the local agent if it is not yet (or give it a new token when only the file was lost);
    True when it did. The runtime starts the agent once the provisioning is committed."""
    if path(home).exists():
        return False
    token = tokens.new()
    fd = os.open(path(home), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(msgspec.json.encode(LocalAgentFile(token=token)))
    try:
        await send(nc, ProvisionAgent(name=NAME, token_hash=tokens.digest(token)))
    except CommandFailed as exc:
        if exc.reply.code != "conflict":
            path(home).unlink(missing_ok=True)
            raise
        await send(nc, RotateAgentToken(agent_id=NAME, token_hash=tokens.digest(token)))
    return True
