"""`kitt stack generate`: a stack's folder, written whole or not at all.

Into KITT_HOME/stacks/NAME/: docker-compose.yaml, .env (0600: every password and key made here, at random;
none has a default), one NATS configuration per node (0600), a CA and the NATS server certificate (tls/),
and the PostgreSQL image's build files. Everything is written into a sibling temp folder that is renamed
into place at the end, so a failure leaves nothing behind.
"""

import os
import shutil
import tempfile
from pathlib import Path

import jinja2
import msgspec

from kitt import __version__
from kitt.auth import ca, credentials, tokens
from kitt.engines.docker import DOCKERFILES
from kitt.stack.options import StackError, StackOptions, check_ports, folder

IMAGE_UID = 1000  # the `kitt` user of KITT's image
_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("kitt.stack", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # YAML and NATS configuration, not HTML
)


def _nodes(options: StackOptions) -> list[str]:
    return [f"nats-{n}" for n in range(1, options.nats_replicas + 1)]


def _env(options: StackOptions, creds: credentials.ServerCredentials, owner: tuple[int, int]) -> str:
    values = {
        **credentials.environment(creds),
        "KITT_AUTH_TOKEN": tokens.new(),
        "KITT_UID": str(owner[0]),
        "KITT_GID": str(owner[1]),
        "KITT_IMAGE": "kitt",
        **({"POSTGRES_PASSWORD": credentials.new_password()} if options.postgres else {}),
        **({"KITT_BASE_IMAGE": os.environ["KITT_BASE_IMAGE"]} if os.environ.get("KITT_BASE_IMAGE") else {}),
    }
    lines = [f"{key}={value}" for key, value in values.items()]
    return (
        "# Secrets of this stack: keep this file 0600 and out of version control.\n" + "\n".join(lines) + "\n"
    )


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _owner() -> tuple[int, int]:
    """Who the stack's containers run as: whoever owns its files (never root: then the image's user)."""
    uid, gid = os.getuid(), os.getgid()
    return (IMAGE_UID, IMAGE_UID) if uid == 0 else (uid, gid)


def _render(options: StackOptions, target: Path) -> None:
    creds = credentials.load_or_create(target / ".auth.json")
    owner = _owner()
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
    compose = _templates.get_template("docker-compose.yaml.j2").render(
        o=options,
        version=__version__,
        nodes=nodes,
        nats_url=f"tls://{nodes[0]}:4222",
        agent_nats_url=f"tls://{public_host or 'localhost'}:{options.nats_port}",
        database_url=database,
        depends=depends,
    )
    (target / "docker-compose.yaml").write_text(compose)
    (target / "stack.json").write_bytes(msgspec.json.encode(options))
    _write_secret(target / ".env", _env(options, creds, owner))
    route_password = credentials.new_password()
    for node in nodes:
        text = _templates.get_template("nats.conf.j2").render(
            o=options,
            node=node,
            routes=[n for n in nodes if n != node] if len(nodes) > 1 else [],
            route_password=route_password,
            accounts=credentials.server_config(creds),
        )
        _write_secret(target / f"{node}.conf", text)
    (target / ".auth.json").unlink()  # its values live on in .env and the NATS configurations
    if options.postgres:
        (target / "postgres").mkdir()
        shutil.copy(DOCKERFILES / "postgres.Dockerfile", target / "postgres" / "Dockerfile")
        shutil.copy(DOCKERFILES / "postgres-entrypoint.sh", target / "postgres" / "postgres-entrypoint.sh")
    if os.getuid() == 0:  # the containers run as the image's user: it must read its secrets
        for path in [target, *target.rglob("*")]:
            os.chown(path, *owner)


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
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = Path(tempfile.mkdtemp(prefix=f".{options.name}-", dir=target.parent))
    try:
        staging.chmod(0o700)
        _render(options, staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
