"""Where KITT keeps its state and which services it talks to, from the environment.

KITT_HOME (default ~/.kitt) holds everything embedded mode writes; KITT_NATS_URL and KITT_DATABASE_URL
switch to an external NATS and PostgreSQL.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from kitt.projections.db import normalize_url


@dataclass(frozen=True)
class Settings:
    home: Path
    nats_url: str | None  # None: embedded nats-server
    database_url: str
    test_timeout_s: float = 1800.0  # a running agent test with no result after this is failed as lost
    agent_auth: bool = False  # embedded NATS checks agents through KITT's auth callout
    nats_tls_cert: str | None = None  # embedded NATS serves TLS with this certificate and key
    nats_tls_key: str | None = None
    nats_tls_ca: str | None = None  # what KITT's own clients trust (default: the certificate itself)

    @property
    def trusted_ca(self) -> str | None:
        return self.nats_tls_ca or self.nats_tls_cert

    @property
    def nats_store(self) -> Path:
        return self.home / "nats"

    @property
    def instance_file(self) -> Path:
        return self.home / "instance.json"


def load() -> Settings:
    home = Path(os.environ.get("KITT_HOME") or Path.home() / ".kitt").expanduser()
    database_url = os.environ.get("KITT_DATABASE_URL") or f"sqlite:///{home / 'karr.db'}"
    return Settings(
        home=home,
        nats_url=os.environ.get("KITT_NATS_URL") or None,
        database_url=normalize_url(database_url),
        test_timeout_s=float(os.environ.get("KITT_TEST_TIMEOUT_S") or 1800.0),
        agent_auth=os.environ.get("KITT_AGENT_AUTH", "").lower() in ("1", "true", "yes", "on"),
        nats_tls_cert=os.environ.get("KITT_NATS_TLS_CERT") or None,
        nats_tls_key=os.environ.get("KITT_NATS_TLS_KEY") or None,
        nats_tls_ca=os.environ.get("KITT_NATS_TLS_CA") or None,
    )
