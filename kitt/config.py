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
    )
