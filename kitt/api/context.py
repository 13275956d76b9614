"""What every route needs: the NATS connection, the read-model database, and where agents connect."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.projections.influx import InfluxTarget


@dataclass(frozen=True)
class ApiContext:
    nc: Client
    db: AsyncEngine
    home: Path
    agent_url: str  # the NATS URL agents are told to use (no credentials in it)
    auth_token: str | None = None  # KITT_AUTH_TOKEN: the admin's token, for every route
    position: Callable[[str], int | None] | None = None  # in-process projectors' positions, if any
    public_url: str | None = None  # the server's base URL as others reach it (`--public-url`)
    agent_ca: str | None = None  # the CA certificate agents check the server with (None: none needed)
    own_url: str = field(default="http://127.0.0.1:8080")  # where this API listens
    web_ca: bool = False  # the API serves a certificate from KITT's CA (install.sh then tells curl)
    influxdb: InfluxTarget | None = None  # the deployment's InfluxDB: its projection's lag is reported too
    local_token: str | None = None  # without KITT_AUTH_TOKEN: KITT_HOME/api-token, the owner's (localtoken)

    def __post_init__(self) -> None:
        if not self.auth_token and not self.local_token:
            raise ValueError("the API never answers anonymously: give it KITT_AUTH_TOKEN or the local token")

    @property
    def base_url(self) -> str:
        """What install scripts and links carry: configured, never taken from a request's Host header."""
        return (self.public_url or self.own_url).rstrip("/")

    @property
    def public_hosts(self) -> frozenset[str]:
        hosts = {urlsplit(url).hostname or "" for url in (self.public_url, self.own_url) if url}
        return frozenset(h.lower() for h in hosts if h and h not in ("0.0.0.0", "::"))
