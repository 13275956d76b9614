"""Where KITT keeps its state and which services it talks to, from the environment.

KITT_HOME (default ~/.kitt, mode 0700) holds everything embedded mode writes; KITT_NATS_URL and
KITT_DATABASE_URL switch to an external NATS and PostgreSQL. The embedded NATS always requires
authentication (see docs/security.md); there is no switch to turn it off.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import structlog

from kitt.events.streams import StreamLimits
from kitt.projections.db import normalize_url
from kitt.projections.influx import InfluxTarget

# What KITT writes into its home: a folder holding any of these is KITT's to close to other users.
KITT_FILES = frozenset(
    {"auth.json", "karr.db", "nats", "instance.json", "network.json", "api-secret", "tls", "agent.yaml"}
)


@dataclass(frozen=True)
class Settings:
    home: Path
    nats_url: str | None  # None: embedded nats-server
    database_url: str
    test_timeout_s: float = 1800.0  # a running agent test with no result after this is failed as lost
    agent_nats_url: str | None = None  # distributed mode: the NATS URL agents are given (no credentials)
    stream_replicas: int = 1  # copies of each JetStream stream (3 on a three-node cluster)
    public_url: str | None = None  # distributed mode: the server's base URL as agents see it
    callout: tuple[str, str, str] | None = (
        None  # distributed mode: (auth password, sys password, issuer seed)
    )
    nats_tls_cert: str | None = None  # embedded NATS serves TLS with this certificate and key
    nats_tls_key: str | None = None
    nats_tls_ca: str | None = None  # what KITT's own clients trust (default: the certificate itself)
    influxdb: InfluxTarget | None = None  # where the influxdb projection writes benchmark figures
    agent_records_quota_gib: float = 50.0  # what one agent's per-request records may take on the server
    agent_reports_pending: int = 1000  # one agent's reports the server holds before it has taken them in

    def stream_limits(self) -> StreamLimits:
        return StreamLimits(
            replicas=self.stream_replicas,
            agent_records_bytes=int(self.agent_records_quota_gib * 1024**3),
            agent_reports_pending=self.agent_reports_pending,
        )

    @property
    def trusted_ca(self) -> str | None:
        return self.nats_tls_ca or self.nats_tls_cert

    def prepare_home(self) -> Path:
        """KITT_HOME, made if missing and closed to other users (it holds passwords, keys and tokens).

        An existing folder is closed only when it is KITT's (empty, or holding KITT's own files): a
        KITT_HOME pointed at a shared folder such as /tmp is left alone, with a warning."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.home.stat().st_mode & 0o077:
            entries = {p.name for p in self.home.iterdir()}
            if not entries or entries & KITT_FILES:
                self.home.chmod(0o700)
            else:
                structlog.get_logger(__name__).warning(
                    "KITT_HOME is open to other users and not KITT's own folder: left as it is",
                    home=str(self.home),
                )
        return self.home

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
        nats_url=_nats_url(),
        database_url=normalize_url(database_url),
        test_timeout_s=float(os.environ.get("KITT_TEST_TIMEOUT_S") or 1800.0),
        agent_nats_url=os.environ.get("KITT_AGENT_NATS_URL") or None,
        stream_replicas=int(os.environ.get("KITT_STREAM_REPLICAS") or 1),
        public_url=os.environ.get("KITT_PUBLIC_URL") or None,
        callout=_callout(),
        nats_tls_cert=os.environ.get("KITT_NATS_TLS_CERT") or None,
        nats_tls_key=os.environ.get("KITT_NATS_TLS_KEY") or None,
        nats_tls_ca=os.environ.get("KITT_NATS_TLS_CA") or None,
        influxdb=_influxdb(),
        agent_records_quota_gib=float(os.environ.get("KITT_AGENT_RECORDS_QUOTA_GIB") or 50.0),
        agent_reports_pending=int(os.environ.get("KITT_AGENT_REPORTS_PENDING") or 1000),
    )


def _influxdb() -> InfluxTarget | None:
    """KITT_INFLUXDB_URL (+ _DB, _USER, _PASSWORD, _CA): the InfluxDB 1.x the influxdb projection feeds."""
    url = os.environ.get("KITT_INFLUXDB_URL")
    if not url:
        return None
    return InfluxTarget(
        url=url.rstrip("/"),
        database=os.environ.get("KITT_INFLUXDB_DB") or "kitt",
        user=os.environ.get("KITT_INFLUXDB_USER") or None,
        password=os.environ.get("KITT_INFLUXDB_PASSWORD") or None,
        ca=os.environ.get("KITT_INFLUXDB_CA") or None,
    )


def _nats_url() -> str | None:
    """KITT_NATS_URL; with KITT_NATS_PASSWORD and no user in the URL, as user `kitt` with that password (so
    a deployment's compose file and process list carry no password in a URL)."""
    url = os.environ.get("KITT_NATS_URL") or None
    password = os.environ.get("KITT_NATS_PASSWORD")
    if url is None or not password or "@" in url.partition("://")[2].split("/")[0]:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://kitt:{password}@{rest}"


def _callout() -> tuple[str, str, str] | None:
    """The auth-callout service's credentials for an external NATS (the variables nats.conf reads)."""
    names = ("KITT_NATS_AUTH_PASSWORD", "KITT_NATS_SYS_PASSWORD", "KITT_NATS_ISSUER_SEED")
    values = [os.environ.get(name) or "" for name in names]
    return (values[0], values[1], values[2]) if all(values) else None
