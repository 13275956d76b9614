"""`kitt stack generate`: a stack's folder, written whole or not at all.

Into KITT_HOME/stacks/NAME/: docker-compose.yaml, .env (0600: every password and key made here, at random;
none has a default), one NATS configuration per node (0600), a CA and the NATS server certificate (tls/),
the PostgreSQL image's build files, and with --monitoring Prometheus, InfluxDB and Grafana (see
kitt.stack.monitoring). Everything is written into a sibling temp folder that is renamed
into place at the end, so a failure leaves nothing behind.
"""

import os
import shutil
from pathlib import Path

import msgspec

from kitt import __version__
from kitt.agent import config as agent_config
from kitt.agent.config import AgentConfig
from kitt.auth import ca, credentials, tokens
from kitt.engines.docker import DOCKERFILES
from kitt.stack import files, monitoring
from kitt.stack.options import AGENT_NAME, StackError, StackOptions, check_ports, folder
from kitt.storage import users


def _nodes(options: StackOptions) -> list[str]:
    return [f"nats-{n}" for n in range(1, options.nats_replicas + 1)]


def _env(
    options: StackOptions, creds: credentials.ServerCredentials, owner: tuple[int, int], token: str
) -> str:
    values = {
        **credentials.environment(creds),
        "KITT_AUTH_TOKEN": token,
        "KITT_UID": str(owner[0]),
        "KITT_GID": str(owner[1]),
        "KITT_IMAGE": "kitt",
        **({"POSTGRES_PASSWORD": credentials.new_password()} if options.postgres else {}),
        **(monitoring.secrets() if options.monitoring else {}),
        **({"KITT_BASE_IMAGE": os.environ["KITT_BASE_IMAGE"]} if os.environ.get("KITT_BASE_IMAGE") else {}),
    }
    return files.env_file(values)


def _write_agent(target: Path, nats_port: int) -> None:
    """The stack agent's agent.yaml (0600: its token); `kitt stack start` provisions it by the token's
    SHA-256, so the token itself never leaves this file."""
    (target / "agent").mkdir()
    config = AgentConfig(
        name=AGENT_NAME,
        server=f"tls://localhost:{nats_port}",  # the published port: the agent is on the host's network
        token=tokens.new(),
        model_dir="/models",
        tls_ca="/etc/kitt/tls/ca.crt",
    )
    agent_config.save(config, target / "agent" / "agent.yaml")


def agent_token_hash(where: Path) -> str:
    return tokens.digest(agent_config.load(where / "agent" / "agent.yaml").token)


SCRAPER = "prometheus"  # the user whose viewer token Prometheus scrapes with


def scraper_token_hash(where: Path) -> str:
    """The SHA-256 of Prometheus's token (prometheus/kitt-token, 0600): `kitt stack start` issues it to
    the user `prometheus` as a viewer by that hash, so the token never leaves its file."""
    return users.digest(monitoring.token_path(where).read_text().strip())


def _render(options: StackOptions, target: Path) -> None:
    creds = credentials.load_or_create(target / ".auth.json")
    owner = files.owner()
    nodes = _nodes(options)
    public_host = (options.public_url or "").partition("://")[2].split("/")[0].split(":")[0]
    hosts = ["localhost", "127.0.0.1", *nodes, *([public_host] if public_host else [])]
    ca.issue(
        target, "nats", hosts
    )  # tls/ca.crt, tls/ca.key, tls/nats.crt, tls/nats.key, all 0600 but the certs
    (target / "tls" / "ca.key").unlink()  # the stack needs no further certificates: its CA key goes
    database = (
        "postgresql://kitt@postgres:5432/kitt" if options.postgres else "sqlite:////app/kitt-results/karr.db"
    )
    depends = ", ".join([*nodes, *(["postgres"] if options.postgres else [])])
    compose = files.templates.get_template("docker-compose.yaml.j2").render(
        o=options,
        version=__version__,
        nodes=nodes,
        nats_url=f"tls://{nodes[0]}:4222",
        agent_nats_url=f"tls://{public_host or 'localhost'}:{options.nats_port}",
        database_url=database,
        depends=depends,
        network="kitt",
        influxdb_port=None,  # on the stack's network only: its projector writes there
        grafana_port=options.grafana_port,
    )
    (target / "docker-compose.yaml").write_text(compose)
    (target / "stack.json").write_bytes(msgspec.json.encode(options))
    token = tokens.new()
    files.write_secret(target / ".env", _env(options, creds, owner, token))
    if options.agent:
        _write_agent(target, options.nats_port)
    if options.monitoring:  # Prometheus scrapes serve on the stack's network, with a viewer's token
        monitoring.write_services(target, users.new(), ["serve:8080"], "http", "15s")
    route_password = credentials.new_password()
    for node in nodes:
        text = files.templates.get_template("nats.conf.j2").render(
            o=options,
            node=node,
            routes=[n for n in nodes if n != node] if len(nodes) > 1 else [],
            route_password=route_password,
            accounts=credentials.server_config(creds),
        )
        files.write_secret(target / f"{node}.conf", text)
    (target / ".auth.json").unlink()  # its values live on in .env and the NATS configurations
    if options.postgres:
        (target / "postgres").mkdir()
        shutil.copy(DOCKERFILES / "postgres.Dockerfile", target / "postgres" / "Dockerfile")
        shutil.copy(DOCKERFILES / "postgres-entrypoint.sh", target / "postgres" / "postgres-entrypoint.sh")
    files.hand_over(target)


def load(home: Path, name: str) -> tuple[StackOptions, Path]:
    where = folder(home, name)
    try:
        return msgspec.json.decode((where / "stack.json").read_bytes(), type=StackOptions), where
    except FileNotFoundError:
        raise StackError(
            f"no stack {name!r} (in {where.parent}): `kitt stack list` shows the stacks"
        ) from None


def stacks(home: Path) -> list[str]:
    root = home / "stacks"
    return sorted(p.name for p in root.iterdir() if (p / "stack.json").exists()) if root.is_dir() else []


def generate(home: Path, options: StackOptions, *, force: bool = False) -> Path:
    target = folder(home, options.name)
    if target.exists() and not force:
        raise StackError(f"stack {options.name!r} exists at {target}: remove it first, or pass --force")
    check_ports(options)
    with files.staged(target) as staging:
        _render(options, staging)
    return target


def user_of(where: Path) -> str:
    """The uid:gid the stack's containers run as (recorded in its .env at generation)."""
    values = dict(
        line.split("=", 1)
        for line in (where / ".env").read_text().splitlines()
        if "=" in line and line[0] != "#"
    )
    return f"{values.get('KITT_UID', '1000')}:{values.get('KITT_GID', '1000')}"
