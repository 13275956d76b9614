"""`kitt campaign create` (a campaign file from earlier results) and `kitt campaign wizard` (the six steps
in the terminal, with prompt_toolkit)."""

from collections.abc import Awaitable, Callable
from pathlib import Path

import click
import yaml
from prompt_toolkit import PromptSession
from prompt_toolkit.completion import WordCompleter

from kitt.campaigns import file as campaign_file
from kitt.campaigns import wizard
from kitt.cli.campaign import campaign_group, print_plan
from kitt.cli.common import async_command, settings
from kitt.models.browser import model_dir
from kitt.orchestration.launching import launch, plan_campaign
from kitt.runtime.embedded import session
from kitt.storage import documents, fleet, queries
from kitt.storage import settings as settings_store


def _matrix_file(name: str, cells: set[tuple[str, str, str]], agent: str | None) -> str:
    data: dict[str, object] = {"name": name, "description": f"reproduces {len(cells)} earlier runs"}
    if agent:
        data["agent"] = agent
    data["models"] = sorted({m for m, _, _ in cells})
    data["engines"] = sorted({e for _, e, _ in cells})
    data["suites"] = sorted({s for _, _, s in cells})
    return yaml.safe_dump(data, sort_keys=False)


@campaign_group.command("create")
@click.option("--from-results", "results", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--from-karr", "karr", is_flag=True, help="From the runs in KARR (narrowed by the filters).")
@click.option("--model", default=None, help="KARR runs whose model contains this.")
@click.option("--engine", default=None)
@click.option("--suite", default=None)
@click.option("--agent", default=None, help="KARR runs of this agent; the campaign runs there too.")
@click.option("--name", default="reproduced", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@async_command
async def create(
    results: Path | None,
    karr: bool,
    model: str | None,
    engine: str | None,
    suite: str | None,
    agent: str | None,
    name: str,
    output: Path,
) -> None:
    """Write a campaign file that reproduces earlier runs' models x engines x suites."""
    if (results is None) == (not karr):
        raise click.UsageError("give one of --from-results DIR or --from-karr")
    cells: set[tuple[str, str, str]] = set()
    if results is not None:
        cells = _cells_in(results)
    else:
        flt = queries.RunFilter(model=model, engine=engine, suite=suite, agent=agent, limit=10_000)
        async with session(settings()) as s:
            for run in await queries.list_runs(s.engine, flt):
                cells.add((run.model, run.engine, run.suite or "quick"))
    if not cells:
        raise click.ClickException("no runs found to reproduce")
    text = _matrix_file(name, cells, agent)
    campaign_file.parse(text, str(output))  # what it writes must load
    _write(output, text)
    click.echo(f"wrote {output}: {len(cells)} runs' models x engines x suites")


def _cells_in(folder: Path) -> set[tuple[str, str, str]]:
    """Every result document under the folder: its model, engine and suite."""
    return {
        (doc.info.model, doc.info.engine, doc.info.suite or "quick")
        for path in sorted(folder.rglob("*.json"))
        for doc in documents.load(path)
    }


def _write(path: Path, text: str) -> None:
    path.write_text(text)


Ask = Callable[..., Awaitable[str]]


async def _answer(ask: Ask, label: str, default: str = "", *, number: bool = False, **options) -> str:
    """One answer; empty takes the default shown in brackets. A number is asked again until it is one."""
    while True:
        prompt = f"{label} [{default}]: " if default else f"{label}: "
        answer = (await ask(prompt, **options)).strip() or default
        if not number:
            return answer
        try:
            float(answer)
            return answer
        except ValueError:
            click.echo(f"  {answer!r} is not a number")


async def _yes(ask: Ask, label: str, default: bool) -> bool:
    answer = await _answer(ask, f"{label} [{'Y/n' if default else 'y/N'}]")
    return default if not answer else answer.lower().startswith("y")


async def _pick(ask: Ask, label: str, options: list[str], *, many: bool, default: str = "") -> list[str]:
    """Choose by number or name (several: comma-separated); asked again until every choice is known."""
    for n, option in enumerate(options, start=1):
        click.echo(f"  {n}. {option}")
    words = [o.split()[0] for o in options]
    while True:
        answer = await _answer(ask, label, default, completer=WordCompleter(words))
        picked: list[str] = []
        for part in [p.strip() for p in answer.split(",") if p.strip()] or ([] if many else [""]):
            if part.isdigit() and 1 <= int(part) <= len(options):
                picked.append(words[int(part) - 1])
            elif part in words:
                picked.append(part)
            else:
                click.echo(f"  not one of the choices: {part!r}")
                picked = []
                break
        if picked and (many or len(picked) == 1):
            return picked


def _agent_label(agent: fleet.Agent) -> str:
    arch = agent.hardware.arch if agent.hardware else "arch unknown"
    return f"{agent.name} ({'online' if agent.online else 'offline'}, {arch})"


async def _steps(ask: Ask, fleet_agents: list[fleet.Agent], root: Path) -> wizard.Draft:
    draft = wizard.Draft()
    click.echo(f"1/6 {wizard.STEPS[0]}")
    while not draft.name.strip():
        draft.name = await _answer(ask, "name")
    draft.description = await _answer(ask, "description")
    click.echo(f"2/6 {wizard.STEPS[1]}")
    labels = ["local (this machine)"] + [_agent_label(a) for a in fleet_agents if a.status != "revoked"]
    [agent] = await _pick(ask, "agent", labels, many=False, default="1")
    draft.agent = None if agent == "local" else agent
    chosen = next((a for a in fleet_agents if a.name == agent), None)
    arch = chosen.hardware.arch if chosen and chosen.hardware else None
    click.echo(f"3/6 {wizard.STEPS[2]}")
    choices = wizard.engine_choices(arch)
    labels = [
        f"{c.name} [{', '.join(c.formats)}]" + (f"  warning: {c.warning}" if c.warning else "")
        for c in choices
    ]
    draft.engines = await _pick(ask, "engines", labels, many=True)
    click.echo(f"4/6 {wizard.STEPS[3]} (from {root})")
    found = wizard.model_choices(root, draft.engines) if draft.agent is None else []
    if found:
        picked = await _pick(ask, "models", [f"{m.path} [{m.format}]" for m in found], many=True)
        draft.models = [str(root / p) for p in picked]
    while not draft.models:
        draft.models = [
            p.strip() for p in (await _answer(ask, "model paths (comma-separated)")).split(",") if p.strip()
        ]
    click.echo(f"5/6 {wizard.STEPS[4]}")
    draft.suite = await _answer(ask, "suite", "quick")
    draft.devon_managed = await _yes(ask, "Devon-managed models?", False)
    draft.cleanup = not await _yes(ask, "keep copied models afterwards?", False)
    draft.max_retries = int(await _answer(ask, "retries per item", "1", number=True))
    draft.test_timeout_s = float(await _answer(ask, "timeout per item (s)", "1800", number=True))
    return draft


@campaign_group.command("wizard")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the campaign file (default: NAME.yaml here).",
)
@async_command
async def wizard_cmd(output: Path | None) -> None:
    """Create a campaign step by step: basics, agent, engines, models, settings, review; then launch."""
    cfg = settings()
    ask: Ask = PromptSession().prompt_async
    async with session(cfg) as s:
        root = model_dir(await settings_store.text(s.engine, "model_dir"))
        known = [await fleet.presence(s.nc, a) for a in await fleet.agents(s.engine)]
        draft = await _steps(ask, known, root)
        parsed = draft.to_file()
        click.echo(f"6/6 {wizard.STEPS[5]}")
        planned = await plan_campaign(s.nc, cfg.home, parsed.name, parsed.spec(), local_ok=False)
        print_plan(planned)
        target = output or Path(f"{parsed.name}.yaml")
        _write(target, draft.to_yaml())
        click.echo(f"wrote {target}")
        if not await _yes(ask, "launch it now?", True):
            return
        planned = await plan_campaign(s.nc, cfg.home, parsed.name, parsed.spec(str(target.resolve())))
        campaign_id, _ = await launch(s.nc, planned)
    click.echo(f"campaign {campaign_id}: launched ({len(planned.items)} items)")
