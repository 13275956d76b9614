"""The agent's own configuration, `~/.kitt/agent.yaml` (mode 0600: it holds the token)."""

import os
from pathlib import Path

import msgspec
import yaml

from kitt.auth import tokens
from kitt.events import subjects
from kitt.yamlfile import load_yaml


class AgentConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    server: str  # the NATS URL agents connect to
    token: str
    model_dir: str | None = None  # relative model paths resolve here
    heartbeat_s: float = 10.0
    capacity: int = 1
    cleanup_models: bool = False  # remove a model copied from a share once its test is done
    nfs_source: str | None = None  # not used (an older setting): accepted so older agent.yaml files load
    nfs_mount: str | None = None  # where that share is mounted here
    tls_ca: str | None = None  # the CA (or self-signed certificate) a `tls://` server is checked against
    api: str | None = None  # the server's HTTP API, where `kitt-agent update` fetches the agent package
    devon_url: str | None = None  # this host's Devon, for devon-managed tests (else DEVON_URL)
    devon_api_key: str | None = None  # its key (else DEVON_API_KEY); a secret like the token, kept here

    def __post_init__(self) -> None:
        subjects.token(self.name, "agent name")
        tokens.check(self.token)
        if "@" in self.server.partition("://")[2].split("/")[0]:
            raise ValueError("the server URL must not carry a user or password: agents use their own token")
        if self.heartbeat_s <= 0 or self.capacity < 1:
            raise ValueError("heartbeat_s must be positive and capacity at least 1")


def default_path() -> Path:
    home = Path(os.environ.get("KITT_HOME") or Path.home() / ".kitt").expanduser()
    return home / "agent.yaml"


def load(path: Path | None = None) -> AgentConfig:
    return load_yaml(path or default_path(), AgentConfig)


def save(config: AgentConfig, path: Path | None = None) -> Path:
    target = path or default_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(yaml.safe_dump(msgspec.to_builtins(config), sort_keys=False))
    os.chmod(staging, 0o600)  # a leftover staging file keeps its old mode on open: set it
    os.replace(staging, target)  # readers see the old file or the new one, never half of one
    return target
