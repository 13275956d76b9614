"""Pages for the fleet: agents (settings, tokens, test agents), the quick-test form, and a test's live log.

Every change is a command, as from the CLI; the forms post here with the session's CSRF token.
"""

import json

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.response import Redirect, Template

from kitt.agent import testagents
from kitt.agent.simulated import SimulatedHost
from kitt.api.commands import execute
from kitt.api.context import ApiContext
from kitt.api.routes.agent_install import ca_pem
from kitt.api.ui.page import form, page
from kitt.auth import tokens
from kitt.commands.decide import AGENT_SETTINGS
from kitt.commands.messages import (
    CancelTest,
    ChangeAgentSettings,
    ProvisionAgent,
    RequestTest,
    RevokeAgent,
    RotateAgentToken,
)
from kitt.engines import specs
from kitt.events import logs, subjects
from kitt.events.states import DEFAULT_TEST_RUNTIME, RUNTIMES, RuntimeName
from kitt.events.types import Scalar, TestSpec
from kitt.models import browser
from kitt.storage import fleet
from kitt.storage import settings as stored_settings

SUITES = ("quick", "standard", "quality-quick", "performance")


class EngineChoice(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    display: str
    formats: tuple[str, ...]
    reason: str | None  # why it cannot run on the agent (None: it can, or "show all" overrides it)
    reason_overridden: str | None = None


def engine_choices(agent: fleet.Agent | None, show_all: bool) -> list[EngineChoice]:
    """Every engine, with why it cannot run on the agent (unless `show_all` overrides)."""
    arch = agent.hardware.arch if agent and agent.hardware else None
    out = []
    for name, spec in sorted(specs.ENGINES.items()):
        reason = f"no {spec.display} build for {arch}" if arch and arch not in spec.archs else None
        out.append(
            EngineChoice(
                name=name,
                display=spec.display,
                formats=spec.formats,
                reason=None if show_all else reason,
                reason_overridden=reason if show_all else None,
            )
        )
    return out


async def _agent(kitt: ApiContext, name: str) -> fleet.Agent:
    found = await fleet.agent(kitt.db, name)
    if found is None:
        raise NotFoundException(detail=f"unknown agent {name!r}")
    return await fleet.presence(kitt.nc, found)


def _runtime(raw: str | None) -> RuntimeName:
    if not raw:
        return DEFAULT_TEST_RUNTIME
    try:
        return msgspec.convert(raw, RuntimeName)
    except msgspec.ValidationError:
        raise ClientException(detail=f"runtime must be one of {', '.join(RUNTIMES)}, not {raw!r}") from None


def _setting_value(key: str, raw: str) -> Scalar:
    kinds = AGENT_SETTINGS.get(key, (str,))
    if int in kinds or float in kinds:
        try:
            number = json.loads(raw)
        except ValueError:
            number = None
        if not isinstance(number, (int, float)) or isinstance(number, bool):
            raise ClientException(detail=f"{key} must be a number, not {raw!r}") from None
        return number
    return raw


class FleetPages(Controller):
    include_in_schema = False

    @get("/agents")
    async def agents(self, request: Request, kitt: ApiContext) -> Template:
        found = [await fleet.presence(kitt.nc, a) for a in await fleet.agents(kitt.db)]
        return await page(request, "agents.html", agents=found)

    @get("/agents/{name:str}")
    async def agent(self, request: Request, kitt: ApiContext, name: str) -> Template:
        found = await _agent(kitt, name)
        tests = await fleet.tests(kitt.db, agent_name=name, limit=20)
        return await page(request, "agent.html", agent=found, tests=tests, setting_keys=AGENT_SETTINGS)

    @post("/agents")
    async def provision(self, request: Request, kitt: ApiContext) -> Template:
        values = await form(request)
        name = values.get("name", "").strip()
        token = tokens.new()
        await execute(request, ProvisionAgent(name=name, token_hash=tokens.digest(token)))
        return await page(
            request, "token.html", name=name, token=token, server=kitt.agent_url, ca=ca_pem(kitt)
        )

    @post("/agents/test")
    async def create_test_agent(self, request: Request, kitt: ApiContext) -> Redirect:
        values = await form(request)
        try:
            gpus, memory = int(values.get("gpus", "1")), int(values.get("memory_gib", "80"))
        except ValueError:
            raise ClientException(detail="gpus and memory_gib must be whole numbers") from None
        arch = values.get("arch", "x86_64")
        try:
            name = subjects.token(values.get("name", "").strip(), "agent name")
        except subjects.InvalidSubjectToken as exc:
            raise ClientException(detail=str(exc)) from None
        host = SimulatedHost(
            name=name,
            gpu=values.get("gpu", "H100 80GB").strip() or "H100 80GB",
            gpus=max(1, min(gpus, 64)),
            arch="aarch64" if arch == "arm64" else arch,
            gpu_memory_mib=max(1, memory) * 1024,
        )
        token = tokens.new()
        if await fleet.agent(kitt.db, name) is not None:
            raise ClientException(detail=f"agent {name!r} already exists")
        # The file first: the runtime starts a test agent when its provisioning event arrives.
        saved = testagents.save(kitt.home, testagents.TestAgentFile(host=host, token=token))
        command = ProvisionAgent(name=name, token_hash=tokens.digest(token))
        try:
            await execute(request, command, wait_for="agents")
        except Exception:
            saved.unlink(missing_ok=True)
            raise
        return Redirect(f"/agents/{name}", status_code=303)

    @post("/agents/{name:str}/settings")
    async def change_settings(self, request: Request, kitt: ApiContext, name: str) -> Redirect:
        values = await form(request)
        await _agent(kitt, name)
        changed: dict[str, Scalar] = {}  # the whole set, as the form shows it
        for key, kinds in AGENT_SETTINGS.items():
            raw = values.get(key, "").strip()
            if bool in kinds:
                changed[key] = raw in ("on", "true", "1", "yes")
            elif raw:
                changed[key] = _setting_value(key, raw)
        await execute(request, ChangeAgentSettings(agent_id=name, settings=changed), wait_for="agents")
        return Redirect(f"/agents/{name}", status_code=303)

    @post("/agents/{name:str}/rotate")
    async def rotate(self, request: Request, kitt: ApiContext, name: str) -> Template:
        await form(request)
        token = tokens.new()
        await execute(request, RotateAgentToken(agent_id=name, token_hash=tokens.digest(token)))
        return await page(
            request, "token.html", name=name, token=token, server=kitt.agent_url, ca=ca_pem(kitt)
        )

    @post("/agents/{name:str}/revoke")
    async def revoke(self, request: Request, kitt: ApiContext, name: str) -> Redirect:
        await form(request)
        await execute(request, RevokeAgent(agent_id=name, reason="revoked in the UI"), wait_for="agents")
        return Redirect(f"/agents/{name}", status_code=303)

    @get("/quicktest")
    async def quicktest(
        self,
        request: Request,
        kitt: ApiContext,
        agent: str | None = None,
        engine: str | None = None,
        show_all: bool = False,
    ) -> Template:
        agents = [a for a in await fleet.agents(kitt.db) if a.status == "registered"]
        chosen = next((a for a in agents if a.name == agent), agents[0] if agents else None)
        engines = engine_choices(chosen, show_all)
        usable = [e for e in engines if e.reason is None]
        picked = next((e for e in usable if e.name == engine), usable[0] if usable else None)
        root = browser.model_dir(await stored_settings.text(kitt.db, "model_dir"))
        models = browser.find_models(root)
        if picked is not None:
            models = [m for m in models if m.format in picked.formats]
        return await page(
            request,
            "quicktest.html",
            agents=agents,
            chosen=chosen,
            engines=engines,
            picked=picked,
            show_all=show_all,
            models=models,
            model_root=str(root),
            suites=SUITES,
            runtimes=specs.RUNTIMES,
        )

    @post("/quicktest")
    async def launch(self, request: Request) -> Redirect:
        """The form's choices as a request_test command: the command decides whether it may run."""
        values = await form(request)
        test = TestSpec(
            model=(values.get("model_path") or values.get("model") or "").strip(),
            engine=values.get("engine", ""),
            suite=values.get("suite") or "quick",
            runtime=_runtime(values.get("runtime")),
            force=values.get("show_all") in ("on", "true", "1"),
        )
        reply = await execute(
            request, RequestTest(spec=test, agent=values.get("agent", "")), wait_for="tests"
        )
        return Redirect(f"/tests/{reply.ids[0]}", status_code=303)

    @get("/tests/{test_id:str}")
    async def test(self, request: Request, kitt: ApiContext, test_id: str) -> Template:
        found = await fleet.test(kitt.db, test_id)
        if found is None:
            raise NotFoundException(detail=f"unknown test {test_id!r}")
        lines = await logs.history(kitt.nc, test_id, found.agent)
        return await page(
            request, "test.html", test=found, lines=lines, last_seq=lines[-1].seq if lines else 0
        )

    @post("/tests/{test_id:str}/cancel")
    async def cancel(self, request: Request, kitt: ApiContext, test_id: str) -> Redirect:
        await form(request)
        await execute(request, CancelTest(test_id=test_id, reason="cancelled in the UI"), wait_for="tests")
        return Redirect(f"/tests/{test_id}", status_code=303)
