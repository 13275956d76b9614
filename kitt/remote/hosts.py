"""The remote hosts KITT knows: KITT_HOME/hosts.yaml (0600), written whole by replacing the file."""

import os
import re
from datetime import datetime
from pathlib import Path

import msgspec
import yaml

from kitt.yamlfile import YamlError, load_yaml

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
TARGET = re.compile(
    r"^(?P<user>[a-z_][a-z0-9_.-]{0,31})@(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9a-fA-F:]+\])$"
)


class RemoteError(Exception):
    """A remote host that cannot be reached, found or used: one line saying why."""


class RemoteRun(msgspec.Struct, frozen=True, kw_only=True):
    """The campaign `kitt remote run` last started there, detached."""

    campaign: str  # the file's name on the host, under .kitt-remote/campaigns/
    log: str
    pid: int
    started_at: datetime


class RemoteHost(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    user: str
    hostname: str
    port: int = 22
    ssh_key: str | None = None  # a private key file; else the SSH agent and ~/.ssh's defaults
    venv: str = ".kitt-venv"  # KITT's virtual environment, relative to the remote HOME
    kitt_version: str | None = None  # what setup installed (None: --no-install)
    gpus: tuple[str, ...] = ()
    added_at: datetime
    last_run: RemoteRun | None = None

    @property
    def target(self) -> str:
        return f"{self.user}@{self.hostname}"

    @property
    def kitt(self) -> str:
        return f"{self.venv}/bin/kitt"


class HostsFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    hosts: list[RemoteHost] = []


def parse_target(text: str) -> tuple[str, str]:
    found = TARGET.match(text)
    if found is None:
        raise RemoteError(f"a remote host is USER@HOST (e.g. kitt@gpu-01.lan), not {text!r}")
    return found["user"], found["host"].strip("[]")


def path(home: Path) -> Path:
    return home / "hosts.yaml"


def load(home: Path) -> HostsFile:
    where = path(home)
    if not where.exists():
        return HostsFile()
    try:
        return load_yaml(where, HostsFile)
    except YamlError as exc:
        raise RemoteError(str(exc)) from None


def save(home: Path, hosts: HostsFile) -> None:
    where = path(home)
    data = msgspec.to_builtins(hosts)
    temp = where.with_name(f".{where.name}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# Remote hosts of `kitt remote` (written by KITT).\n")
        yaml.safe_dump(data, out, sort_keys=False)
    temp.replace(where)


def find(home: Path, name: str) -> RemoteHost:
    for host in load(home).hosts:
        if name in (host.name, host.hostname):
            return host
    raise RemoteError(f"no remote host {name!r}: `kitt remote list` shows them, `kitt remote setup` adds one")


def put(home: Path, host: RemoteHost) -> None:
    current = load(home)
    current.hosts = [h for h in current.hosts if h.name != host.name] + [host]
    save(home, current)


def drop(home: Path, name: str) -> RemoteHost:
    found = find(home, name)
    current = load(home)
    current.hosts = [h for h in current.hosts if h.name != found.name]
    save(home, current)
    return found
