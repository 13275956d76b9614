"""What every route needs: the NATS connection, the read-model database, and where agents connect."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True)
class ApiContext:
    nc: Client
    db: AsyncEngine
    home: Path
    agent_url: str  # the NATS URL agents are told to use (no credentials in it)
    auth_token: str | None = None  # KITT_AUTH_TOKEN: required on every route when set
    position: Callable[[str], int | None] | None = None  # in-process projectors' positions, if any
