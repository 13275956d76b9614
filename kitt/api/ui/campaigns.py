"""Campaign pages: the list, the six-step wizard, a campaign's live log and rollup, and schedules.

The wizard is one form posted step by step; what earlier steps chose travels in hidden fields, so it
works without JavaScript (which only adds the model search box and the live updates).
"""

from datetime import UTC, datetime

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from kitt.api.commands import execute, principal
from kitt.api.context import ApiContext
from kitt.api.ui.page import form, page
from kitt.campaigns import cron, wizard
from kitt.campaigns.plan import PlanError
from kitt.charts.campaign import rollup
from kitt.commands.messages import (
    CancelCampaign,
    CreateSchedule,
    DeleteSchedule,
    PauseCampaign,
    ResumeCampaign,
)
from kitt.events import logs, subjects
from kitt.models import browser
from kitt.orchestration.launching import launch, plan_campaign
from kitt.storage import campaigns as stored
from kitt.storage import fleet
from kitt.storage import settings as stored_settings
from kitt.storage.checkpoints import wait_for_checkpoint

SUITES = ("quick", "standard", "quality-quick", "performance", "slo")


def _flag(value: str | None) -> bool:
    return value in ("on", "true", "1", "yes")


async def _draft(request: Request) -> tuple[wizard.Draft, int, str]:
    """The wizard's draft as posted (CSRF checked), the step it was posted from, and the button pressed."""
    values = await form(request)
    data = await request.form()
    draft = wizard.Draft(
        name=values.get("name", "").strip(),
        description=values.get("description", "").strip(),
        agent=values.get("agent") or None,
        engines=[str(e) for e in data.getall("engines", [])],
        models=[str(m) for m in data.getall("models", [])],
        suite=values.get("suite") or "quick",
        devon_managed=_flag(values.get("devon_managed")),
        cleanup=_flag(values.get("cleanup", "on")),
        max_retries=int(values.get("max_retries") or 1),
        test_timeout_s=float(values.get("test_timeout_s") or 1800),
    )
    typed = [p.strip() for p in values.get("model_paths", "").splitlines() if p.strip()]
    draft.models += [p for p in typed if p not in draft.models]
    return draft, int(values.get("step") or 1), values.get("go", "next")


def _incomplete(draft: wizard.Draft, step: int) -> str | None:
    if step == 1 and not draft.name:
        return "give the campaign a name"
    if step == 3 and not draft.engines:
        return "choose at least one engine"
    if step == 4 and not draft.models:
        return "choose at least one model"
    return None


class CampaignPages(Controller):
    @get("/campaigns")
    async def campaigns(self, request: Request, kitt: ApiContext) -> Template:
        return await page(request, "campaigns.html", campaigns=await stored.campaigns(kitt.db))

    @get("/campaigns/new")
    async def new(self, request: Request, kitt: ApiContext) -> Template:
        return await self._step(request, kitt, wizard.Draft(), 1, None)

    @post("/campaigns/new")
    async def wizard_step(self, request: Request, kitt: ApiContext) -> Template:
        draft, step, go = await _draft(request)
        if go == "back":
            return await self._step(request, kitt, draft, max(1, step - 1), None)
        if go.startswith("step-") and go[5:].isdigit() and 1 <= int(go[5:]) < step:
            return await self._step(request, kitt, draft, int(go[5:]), None)  # back to a finished step
        problem = _incomplete(draft, step)
        return await self._step(request, kitt, draft, step if problem else min(6, step + 1), problem)

    async def _step(
        self, request: Request, kitt: ApiContext, draft: wizard.Draft, step: int, problem: str | None
    ) -> Template:
        agents = [a for a in await fleet.agents(kitt.db) if a.status != "revoked"]
        if step == 2:
            agents = [await fleet.presence(kitt.nc, a) for a in agents]
        chosen = next((a for a in agents if a.name == draft.agent), None)
        arch = chosen.hardware.arch if chosen and chosen.hardware else None
        root = browser.model_dir(await stored_settings.text(kitt.db, "model_dir"))
        models = wizard.model_choices(root, draft.engines) if step == 4 and draft.engines else []
        offered = {f"{root}/{m.path}" for m in models}
        values: dict[str, object] = {}
        if step == 6:
            values |= await self._review(kitt, draft)
        return await page(
            request,
            "campaign_new.html",
            draft=draft,
            step=step,
            steps=wizard.STEPS,
            problem=problem,
            agents=agents,
            engines=wizard.engine_choices(arch),
            models=models,
            model_root=str(root),
            typed=[m for m in draft.models if m not in offered],
            suites=SUITES,
            **values,
        )

    async def _review(self, kitt: ApiContext, draft: wizard.Draft) -> dict[str, object]:
        try:
            parsed = draft.to_file()
            planned = await plan_campaign(kitt.nc, kitt.home, parsed.name, parsed.spec(), local_ok=False)
        except (msgspec.ValidationError, PlanError) as exc:
            return {"plan_error": str(exc), "plan": None}
        models, engines, cells = wizard.matrix(planned)
        return {
            "plan": planned,
            "matrix_models": models,
            "matrix_engines": engines,
            "cells": cells,
            "yaml": draft.to_yaml(),
        }

    @post("/campaigns")
    async def launch_campaign(self, request: Request, kitt: ApiContext) -> Redirect | Template:
        draft, _, _ = await _draft(request)
        try:
            parsed = draft.to_file()
            planned = await plan_campaign(kitt.nc, kitt.home, parsed.name, parsed.spec())
        except (msgspec.ValidationError, PlanError) as exc:
            return await self._step(request, kitt, draft, 6, str(exc))
        campaign_id, seq = await launch(kitt.nc, planned, actor=principal(request).actor)
        await wait_for_checkpoint(kitt.db, "campaigns", seq)  # the page it redirects to reads its own write
        return Redirect(f"/campaigns/{campaign_id}", status_code=303)

    @get("/campaigns/{campaign_id:str}")
    async def campaign(self, request: Request, kitt: ApiContext, campaign_id: str) -> Template:
        detail = await stored.campaign(kitt.db, campaign_id)
        if detail is None:
            raise NotFoundException(detail=f"unknown campaign {campaign_id!r}")
        lines = await logs.read(kitt.nc, subjects.campaign_log(campaign_id))
        return await page(
            request,
            "campaign.html",
            detail=detail,
            c=detail.campaign,
            lines=lines,
            last_seq=lines[-1].seq if lines else 0,
            charts=rollup(detail),
        )

    @post("/campaigns/{campaign_id:str}/{action:str}")
    async def act(self, request: Request, campaign_id: str, action: str) -> Redirect:
        await form(request)
        commands = {
            "cancel": CancelCampaign(campaign_id=campaign_id, reason="cancelled in the UI"),
            "pause": PauseCampaign(campaign_id=campaign_id),
            "resume": ResumeCampaign(campaign_id=campaign_id),
        }
        if action not in commands:
            raise NotFoundException(detail=f"no action {action!r} on a campaign")
        await execute(request, commands[action], wait_for="campaigns")
        return Redirect(f"/campaigns/{campaign_id}", status_code=303)

    @get("/schedules")
    async def schedules(self, request: Request, kitt: ApiContext, error: str | None = None) -> Template:
        now = datetime.now(UTC)
        found = await stored.schedules(kitt.db)
        upcoming = {s.schedule_id: cron.parse(s.cron).next_after(now) for s in found}
        return await page(
            request,
            "schedules.html",
            schedules=found,
            upcoming=upcoming,
            campaigns=await stored.campaigns(kitt.db),
            error=error,
        )

    @post("/schedules")
    async def create_schedule(self, request: Request, kitt: ApiContext) -> Redirect:
        values = await form(request)
        template = await stored.latest_by_id(kitt.db, values.get("campaign_id", ""))
        if template is None:
            raise NotFoundException(detail="choose a campaign to schedule")
        command = CreateSchedule(
            name=values.get("name", "").strip() or template.name,
            cron=values.get("cron", "").strip(),
            template=msgspec.structs.replace(template.spec, resumes=None),
            campaign_name=template.name,
        )
        await execute(request, command, wait_for="schedules")
        return Redirect("/schedules", status_code=303)

    @post("/schedules/{schedule_id:str}/delete")
    async def delete_schedule(self, request: Request, schedule_id: str) -> Redirect:
        await form(request)
        await execute(request, DeleteSchedule(schedule_id=schedule_id), wait_for="schedules")
        return Redirect("/schedules", status_code=303)
