"""What a stack is made of (`kitt stack generate`'s options), checked before anything is written."""

import re
import socket
from pathlib import Path

import msgspec

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class StackError(ValueError):
    """A stack that cannot be made, started or found: one line saying why."""


class StackOptions(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    web: bool = False  # publish the API and UI on `port` (always behind KITT_AUTH_TOKEN)
    postgres: bool = False  # else SQLite in the stack's volume
    monitoring: bool = (
        False  # Prometheus scraping serve, InfluxDB fed by the projector, Grafana on grafana_port
    )
    grafana_port: int = 3000
    agent: bool = False  # a kitt-agent for this host, running engines as sibling containers
    models: str | None = None  # the host folder the agent sees as /models (read-only)
    nats_replicas: int = 1  # 1, or 3: a three-node cluster with every stream on all three
    port: int = 8080
    nats_port: int = 4222  # where agents on other hosts reach NATS (TLS)
    public_url: str | None = None

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise StackError(
                "a stack name is 1-40 lowercase letters, digits, '-' or '_', starting with a letter or "
                f"digit; not {self.name!r}"
            )
        if self.nats_replicas not in (1, 3):
            raise StackError(f"--nats-replicas is 1 or 3, not {self.nats_replicas}")
        if self.models is not None and not self.models.startswith("/"):
            raise StackError(f"--models is an absolute host folder, not {self.models!r}")
        ports = self.published_ports()
        if len(set(ports)) != len(ports):
            raise StackError(f"two of the stack's services would publish the same port: {ports}")

    @property
    def project(self) -> str:
        """The compose project name: every container, network and volume of the stack carries it."""
        return f"kitt-{self.name}"

    def published_ports(self) -> list[int]:
        return [
            self.nats_port,
            *([self.port] if self.web else []),
            *([self.grafana_port] if self.monitoring else []),
        ]


def folder(home: Path, name: str) -> Path:
    return home / "stacks" / name


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def check_ports(options: StackOptions) -> None:
    for port in options.published_ports():
        if port_in_use(port):
            raise StackError(f"port {port} is in use on this host: choose another (--port / --nats-port)")


AGENT_NAME = "stack-agent"
