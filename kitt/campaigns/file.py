"""campaign.yaml: what a campaign asks for, validated with errors that name the file, line and field."""

from pathlib import Path

import msgspec

from kitt.events.campaigns import CampaignSpec, Notify
from kitt.events.states import RuntimeName
from kitt.yamlfile import YamlError, load_yaml, parse_yaml

__all__ = ["CampaignFile", "YamlError", "load", "parse"]


class CampaignFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    models: list[str]
    engines: list[str]
    suites: list[str] = msgspec.field(default_factory=lambda: ["quick"])
    description: str = ""
    agent: str | None = None
    agents: list[str] = []
    engine_profiles: dict[str, str] = {}
    runtime: RuntimeName | dict[str, RuntimeName] | None = None
    quant_filter: list[str] = []
    max_retries: int = 0
    retry_backoff_s: float = 30.0
    test_timeout_s: float = 1800.0
    cleanup: bool = True
    disk_reserve_gb: float | None = None
    devon_managed: bool = False
    devon_url: str | None = None
    devon_api_key: str | None = None  # a secret: kept in the file, never put in an event
    notify: Notify | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("`name` must not be empty")
        for field in ("models", "engines", "suites"):
            if not getattr(self, field):
                raise ValueError(f"`{field}` must list at least one entry")
        if self.agent and self.agents:
            raise ValueError("give `agent` or `agents`, not both")
        if self.max_retries < 0 or self.max_retries > 10:
            raise ValueError("`max_retries` must be 0-10")
        if self.test_timeout_s <= 0 or self.retry_backoff_s < 0:
            raise ValueError("`test_timeout_s` must be positive and `retry_backoff_s` not negative")

    def spec(self, source: str | None = None) -> CampaignSpec:
        per_engine = self.runtime if isinstance(self.runtime, dict) else {}
        return CampaignSpec(
            models=tuple(self.models),
            engines=tuple(self.engines),
            suites=tuple(self.suites),
            agent=self.agent,
            agents=tuple(self.agents),
            max_retries=self.max_retries,
            test_timeout_s=self.test_timeout_s,
            retry_backoff_s=self.retry_backoff_s,
            description=self.description,
            runtime=None if isinstance(self.runtime, dict) else self.runtime,
            engine_runtimes=dict(per_engine),
            engine_profiles=dict(self.engine_profiles),
            quant_filter=tuple(self.quant_filter),
            cleanup=self.cleanup,
            disk_reserve_gb=self.disk_reserve_gb,
            devon_managed=self.devon_managed,
            devon_url=self.devon_url,
            notify=self.notify,
            source=source,
        )


def _on_key(data: object) -> object:
    """`notify: {on: [...]}` as written: YAML 1.1 reads the key `on` as the boolean true."""
    if isinstance(data, dict) and isinstance(data.get("notify"), dict) and True in data["notify"]:
        notify = dict(data["notify"])
        notify["on"] = notify.pop(True)
        return {**data, "notify": notify}
    return data


def load(path: Path) -> CampaignFile:
    return load_yaml(path, CampaignFile, prepare=_on_key)


def source_of(path: Path) -> str:
    """How a campaign remembers its file: the absolute path (`--resume` finds the latest by it)."""
    return str(path.resolve())


def parse(text: str, source: str = "campaign.yaml") -> CampaignFile:
    return parse_yaml(text, CampaignFile, source=source, prepare=_on_key)
