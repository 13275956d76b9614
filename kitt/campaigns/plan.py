"""Planning: a campaign file's matrix expanded to items, with what cannot run recorded as skips.

Models are paths, globs or folders (scanned, GGUF quantisations filtered); every model x engine x suite cell
goes through the same preflight as `kitt run` (format x engine, engine x the agent's architecture). A cell
that fails it is skipped *with the reason*; an unknown engine, suite or agent is an error (nothing is
planned). Items run smallest model first.
"""

import glob
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec

from kitt.bench import suites
from kitt.engines import formats, preflight, specs
from kitt.engines.runtime import default_runtime_name
from kitt.events.campaigns import CampaignItem, CampaignSpec, SkippedItem
from kitt.events.states import DEFAULT_TEST_RUNTIME, RuntimeName
from kitt.models.browser import find_models

LOCAL_AGENT = "local"  # the agent the embedded runtime runs for this machine
_GLOB = re.compile(r"[*?\[]")
_QUANT = re.compile(r"(?i)(?:^|[-_.])((?:IQ|Q)\d[A-Z0-9_]*?|F16|BF16|F32)(?=\.gguf$|[-.]|$)")


class PlanError(ValueError):
    """The campaign cannot be planned (unknown engine, suite or agent); nothing was created."""


@dataclass(frozen=True)
class AgentInfo:
    name: str
    arch: str | None  # None: not known yet (never registered)
    online: bool = False
    local: bool = False  # on this machine: its model paths are this machine's


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    spec: CampaignSpec
    items: tuple[CampaignItem, ...]
    skipped: tuple[SkippedItem, ...]


@dataclass(frozen=True)
class _Model:
    path: str
    size: int | None  # None: not on this machine (a remote agent's path)
    format: str | None


def quantisation(name: str) -> str | None:
    found = _QUANT.findall(Path(name).name)
    return found[-1].upper() if found else None


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _expand_one(entry: str, quant_filter: tuple[str, ...], local: bool) -> tuple[list[_Model], str | None]:
    path = Path(entry).expanduser()
    if _GLOB.search(entry):
        paths = [Path(p) for p in sorted(glob.glob(str(path)))]
        if not paths:
            return [], f"no model matches {entry!r}"
    elif path.is_dir():
        try:
            whole = _local(path)  # a safetensors (or exl2, pytorch) folder is one model
        except formats.ModelError:
            whole = None
        if whole is not None and whole.format != "gguf":
            return [whole], None
        found = find_models(path)  # a folder of GGUF files (or of model folders): each is a model
        if not found:
            return [], f"no model in folder {entry!r}"
        paths = [path / m.path for m in found]
    elif path.exists():
        paths = [path]
    elif local:
        return [], f"model {entry!r} does not exist on this machine"
    else:  # a path on the agent: its format is judged by name here and checked there
        fmt = "gguf" if entry.lower().endswith(".gguf") else None
        return [_Model(entry, None, fmt)], None
    models = [_local(p) for p in paths if _wanted(p, quant_filter)]
    if not models:
        return [], f"no model under {entry!r} has a quantisation in {list(quant_filter)}"
    return models, None


def _devon_model(model_id: str) -> _Model:
    """A Devon model id: fetched on the agent before its item runs, its format judged by its name here."""
    return _Model(model_id, None, "gguf" if "gguf" in model_id.lower() else None)


def devon_include(spec: CampaignSpec) -> tuple[str, ...]:
    """The files a devon-managed item downloads: the quant filter's GGUFs, else everything."""
    return tuple(f"*{quant}*" for quant in spec.quant_filter)


def _local(path: Path) -> _Model:
    return _Model(str(path.resolve()), _size(path), formats.detect(path))


def _wanted(path: Path, quant_filter: tuple[str, ...]) -> bool:
    if not quant_filter or not path.name.lower().endswith(".gguf"):
        return True
    return (quantisation(path.name) or "") in {q.upper() for q in quant_filter}


def _runtime(spec: CampaignSpec, engine: specs.EngineSpec, agent: AgentInfo) -> RuntimeName:
    chosen = spec.engine_runtimes.get(engine.name) or spec.runtime
    if chosen is None:
        chosen = default_runtime_name(None) if agent.local else DEFAULT_TEST_RUNTIME
        if chosen not in engine.runtimes:
            chosen = engine.runtimes[0]
    return chosen


def _check(model: _Model, engine: specs.EngineSpec, runtime: RuntimeName, agent: AgentInfo) -> str | None:
    """Why this cell cannot run on that agent, or None."""
    if model.size is not None:
        try:
            preflight.check(engine.name, model.path, runtime, arch=agent.arch)
        except preflight.PreflightError as exc:
            return str(exc)
        return None
    if runtime not in engine.runtimes:
        return f"{engine.display} has no {runtime} runtime"
    if agent.arch and agent.arch not in engine.archs and runtime == "docker":
        return f"{engine.display} has no images or builds for {agent.name}'s platform ({agent.arch})"
    if model.format and model.format not in engine.formats:
        return f"{engine.display} cannot serve a {model.format} model ({model.path!r})"
    return None


def _agents(spec: CampaignSpec, known: Mapping[str, AgentInfo]) -> list[AgentInfo]:
    names = list(spec.agents) or [spec.agent or LOCAL_AGENT]
    chosen: list[AgentInfo] = []
    for name in names:
        if name not in known:
            hint = " (is `kitt up` running?)" if name == LOCAL_AGENT else " (see `kitt agents list`)"
            raise PlanError(f"unknown agent {name!r}{hint}")
        chosen.append(known[name])
    return chosen


def _engines(spec: CampaignSpec) -> list[specs.EngineSpec]:
    try:
        return [specs.get(name) for name in spec.engines]
    except specs.UnknownEngine as exc:
        raise PlanError(str(exc)) from None


def _suites(spec: CampaignSpec, home: Path) -> None:
    for name in spec.suites:
        try:
            suites.load(name, home)
        except (ValueError, OSError) as exc:
            raise PlanError(f"suite {name!r}: {exc}") from None


def plan(name: str, spec: CampaignSpec, agents: Mapping[str, AgentInfo], home: Path) -> Plan:
    lanes = _agents(spec, agents)
    engines = _engines(spec)
    _suites(spec, home)
    local = all(a.local for a in lanes)
    models: list[_Model] = []
    skipped: list[SkippedItem] = []
    for entry in spec.models:
        found, why = (
            ([_devon_model(entry)], None)
            if spec.devon_managed
            else _expand_one(entry, spec.quant_filter, local)
        )
        models.extend(m for m in found if m.path not in {x.path for x in models})
        if why:
            for engine in engines:
                skipped.extend(
                    SkippedItem(model=entry, engine=engine.name, suite=s, agent=None, reason=why)
                    for s in spec.suites
                )
    cells: list[tuple[_Model, specs.EngineSpec, str, AgentInfo, RuntimeName]] = []
    turn = 0
    for model in models:
        for engine in engines:
            for suite in spec.suites:
                placed, reasons = None, []
                for offset in range(len(lanes)):
                    agent = lanes[(turn + offset) % len(lanes)]
                    runtime = _runtime(spec, engine, agent)
                    reason = _check(model, engine, runtime, agent)
                    if reason is None:
                        placed = (model, engine, suite, agent, runtime)
                        break
                    reasons.append(reason)
                if placed is None:
                    agent_name = lanes[0].name if len(lanes) == 1 else None
                    skipped.append(
                        SkippedItem(
                            model=model.path,
                            engine=engine.name,
                            suite=suite,
                            agent=agent_name,
                            reason=reasons[0],
                        )
                    )
                    continue
                cells.append(placed)
                turn += 1
    cells.sort(key=lambda c: (c[0].size is None, c[0].size or 0, c[0].path, c[1].name, c[2]))
    items = tuple(
        CampaignItem(
            key=f"{i:03d}",
            model=m.path,
            engine=e.name,
            suite=s,
            agent=a.name,
            runtime=r,
            engine_profile=spec.engine_profiles.get(e.name),
            model_format=m.format,
            size_bytes=m.size or 0,
        )
        for i, (m, e, s, a, r) in enumerate(cells, start=1)
    )
    return Plan(name=name, spec=spec, items=items, skipped=tuple(skipped))
