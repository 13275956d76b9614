"""Where the embedded NATS listens, kept in `KITT_HOME/network.json` so addresses survive restarts.

- `client_port`: the loopback port KITT's services (and agents on this machine) use. Chosen free on the
  first start and reused after, so a local agent finds its server again when `kitt up` restarts.
- `agents`: `HOST:PORT` of the listener for agents on other hosts (`kitt up --agents`): nats-server's
  WebSocket listener, always TLS, with a certificate from KITT's CA. A WebSocket listener rather than the
  client port: the services keep a plain, private loopback port (the projectors' hot path pays no TLS),
  the agent port speaks TLS only, and `wss://` passes the HTTP proxies GPU labs tend to sit behind.
- `public_url`: the server's base URL as agents and install.sh see it (`kitt up --public-url`).
"""

import ipaddress
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from kitt.children import free_port

FILE = "network.json"
WILDCARDS = ("0.0.0.0", "::", "")


class NetworkError(ValueError):
    pass


class Network(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    client_port: int
    agents: str | None = None  # HOST:PORT of the agent listener; None: agents on this machine only
    public_url: str | None = None


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 in brackets) → (host, port), with a clear error."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise NetworkError(f"--agents {value!r}: expected HOST:PORT, e.g. 0.0.0.0:4443")
    if host not in WILDCARDS:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise NetworkError(
                f"--agents {value!r}: HOST must be an IP address to bind (or 0.0.0.0)"
            ) from None
    return host or "0.0.0.0", int(port)


def check_public_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NetworkError(f"--public-url {value!r}: expected http(s)://HOST[:PORT]")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise NetworkError(f"--public-url {value!r}: no credentials, query or fragment")
    return value.strip().rstrip("/")


def load(home: Path) -> Network | None:
    try:
        return msgspec.json.decode((home / FILE).read_bytes(), type=Network)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def save(home: Path, network: Network) -> None:
    target = home / FILE
    staging = target.with_suffix(".tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(msgspec.json.encode(network))
    os.replace(staging, target)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def resolve(home: Path, *, agents: str | None = None, public_url: str | None = None) -> Network:
    """This start's network: what is kept, updated by the options given (`agents="off"` forgets it)."""
    kept = load(home)
    port = kept.client_port if kept is not None and _port_free(kept.client_port) else free_port()
    listen = kept.agents if kept is not None else None
    if agents is not None:
        listen = None if agents == "off" else "{}:{}".format(*parse_listen(agents))
    url = kept.public_url if kept is not None else None
    if public_url is not None:
        url = None if public_url == "off" else check_public_url(public_url)
    network = Network(client_port=port, agents=listen, public_url=url)
    if network != kept:
        save(home, network)
    return network


def agent_hosts(network: Network) -> list[str]:
    """The names the agent listener's certificate carries: what an agent may dial."""
    hosts = []
    if network.public_url:
        hosts.append(urlsplit(network.public_url).hostname or "")
    if network.agents:
        host, _ = parse_listen(network.agents)
        if host not in WILDCARDS:
            hosts.append(host)
    hosts += [socket.getfqdn(), socket.gethostname(), "localhost", "127.0.0.1"]
    return [h for h in dict.fromkeys(hosts) if h]


def agent_url(network: Network) -> str | None:
    """`wss://HOST:PORT` for agents on other hosts, or None without an agent listener."""
    if not network.agents:
        return None
    host, port = parse_listen(network.agents)
    if network.public_url:
        host = urlsplit(network.public_url).hostname or host
    elif host in WILDCARDS:
        host = socket.getfqdn()
    return f"wss://{f'[{host}]' if ':' in host else host}:{port}"
