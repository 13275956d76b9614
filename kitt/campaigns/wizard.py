"""The six steps of creating a campaign, shared by the web wizard and `kitt campaign wizard`:
1 Basics, 2 Agent, 3 Engines, 4 Models, 5 Settings, 6 Review (the compatibility matrix).

Each step's choices come from here, so both wizards offer the same engines (with the agent's platform
warnings), the same models (filtered by the chosen engines' formats) and the same review.
"""

from dataclasses import dataclass
from pathlib import Path

import msgspec
import yaml

from kitt.campaigns.file import CampaignFile
from kitt.campaigns.plan import Plan
from kitt.engines import specs
from kitt.models.browser import ModelEntry, find_models

STEPS = ("Basics", "Agent", "Engines", "Models", "Settings", "Review")


@dataclass(frozen=True)
class EngineChoice:
    name: str
    display: str
    formats: tuple[str, ...]
    warning: str | None  # the agent's platform has no build of it


def engine_choices(arch: str | None) -> list[EngineChoice]:
    out: list[EngineChoice] = []
    for engine in sorted(specs.ENGINES.values(), key=lambda e: e.name):
        warning = None
        if arch and arch not in engine.archs:
            warning = f"no images or builds for {arch} (it runs on {', '.join(engine.archs)})"
        out.append(EngineChoice(engine.name, engine.display, tuple(engine.formats), warning))
    return out


def model_choices(root: Path, engines: list[str]) -> list[ModelEntry]:
    """The models under the folder that at least one chosen engine serves."""
    wanted = {f for name in engines for f in specs.get(name).formats}
    return [m for m in find_models(root) if m.format in wanted]


class Draft(msgspec.Struct, kw_only=True):
    """What the wizard has gathered so far; every step's fields, with the file's defaults."""

    name: str = ""
    description: str = ""
    agent: str | None = None  # None: this machine
    engines: list[str] = []
    models: list[str] = []
    suite: str = "quick"
    devon_managed: bool = False
    cleanup: bool = True
    max_retries: int = 1
    test_timeout_s: float = 1800.0

    def to_file(self) -> CampaignFile:
        """The campaign file; raises msgspec.ValidationError (with the field) while a step is incomplete."""
        return msgspec.convert(self.as_yaml_data(), CampaignFile)

    def as_yaml_data(self) -> dict[str, object]:
        data: dict[str, object] = {"name": self.name, "description": self.description}
        if self.agent:
            data["agent"] = self.agent
        data.update(
            models=list(self.models),
            engines=list(self.engines),
            suites=[self.suite],
            devon_managed=self.devon_managed,
            cleanup=self.cleanup,
            max_retries=self.max_retries,
            test_timeout_s=self.test_timeout_s,
        )
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.as_yaml_data(), sort_keys=False)


@dataclass(frozen=True)
class Cell:
    runs: bool
    why: str = ""  # the skip's reason


def matrix(planned: Plan) -> tuple[list[str], list[str], dict[tuple[str, str], Cell]]:
    """Models x engines of the plan: which cells run, which are skipped and why (suites folded in)."""
    models: list[str] = []
    engines: list[str] = []
    cells: dict[tuple[str, str], Cell] = {}
    for model, engine, cell in [(i.model, i.engine, Cell(True)) for i in planned.items] + [
        (s.model, s.engine, Cell(False, s.reason)) for s in planned.skipped
    ]:
        if model not in models:
            models.append(model)
        if engine not in engines:
            engines.append(engine)
        cells.setdefault((model, engine), cell)
    return models, engines, cells
