"""Campaigns over HTTP: list, read, plan (dry run), launch, cancel, pause, resume; the live log as SSE."""

from collections.abc import AsyncIterator

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Parameter
from litestar.response import Stream

from kitt.api.commands import execute, principal
from kitt.api.context import ApiContext
from kitt.api.fanout import Hub, Item, sse, stream
from kitt.campaigns import file as campaign_file
from kitt.campaigns.plan import Plan, PlanError
from kitt.commands.messages import CancelCampaign, PauseCampaign, ResumeCampaign
from kitt.events import logs, subjects
from kitt.orchestration.launching import launch, plan_campaign
from kitt.storage import campaigns as stored

ENDED = ("succeeded", "completed_with_failures", "failed", "cancelled")


class CampaignRequest(msgspec.Struct, frozen=True, kw_only=True):
    campaign: str  # the campaign file's YAML
    dry_run: bool = False


class Launched(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    seq: int
    plan: Plan


async def plan_text(kitt: ApiContext, text: str, *, local_ok: bool) -> Plan:
    try:
        parsed = campaign_file.parse(text, "campaign")
        return await plan_campaign(kitt.nc, kitt.home, parsed.name, parsed.spec(), local_ok=local_ok)
    except (campaign_file.YamlError, PlanError) as exc:
        raise ClientException(detail=str(exc)) from None


class CampaignsController(Controller):
    path = "/api/v1/campaigns"

    @get("/")
    async def list_campaigns(self, kitt: ApiContext) -> list[stored.Campaign]:
        return await stored.campaigns(kitt.db)

    @get("/{campaign_id:str}")
    async def detail(self, kitt: ApiContext, campaign_id: str) -> stored.CampaignDetail:
        found = await stored.campaign(kitt.db, campaign_id)
        if found is None:
            raise NotFoundException(detail=f"unknown campaign {campaign_id!r}")
        return found

    @post("/")
    async def create(self, request: Request, kitt: ApiContext, data: CampaignRequest) -> Plan | Launched:
        """Plan the campaign file; unless `dry_run`, create and launch it (as `kitt campaign run`)."""
        planned = await plan_text(kitt, data.campaign, local_ok=not data.dry_run)
        if data.dry_run:
            return planned
        campaign_id, seq = await launch(kitt.nc, planned, actor=principal(request).actor)
        return Launched(id=campaign_id, seq=seq, plan=planned)

    @post("/{campaign_id:str}/cancel")
    async def cancel(self, request: Request, campaign_id: str) -> dict[str, int]:
        cancel = CancelCampaign(campaign_id=campaign_id, reason="cancelled over the API")
        return {"seq": (await execute(request, cancel)).seq}

    @post("/{campaign_id:str}/pause")
    async def pause(self, request: Request, campaign_id: str) -> dict[str, int]:
        return {"seq": (await execute(request, PauseCampaign(campaign_id=campaign_id))).seq}

    @post("/{campaign_id:str}/resume")
    async def resume(self, request: Request, campaign_id: str) -> dict[str, int]:
        return {"seq": (await execute(request, ResumeCampaign(campaign_id=campaign_id))).seq}

    @get("/{campaign_id:str}/logs")
    async def log_stream(
        self,
        kitt: ApiContext,
        request: Request,
        campaign_id: str,
        after: int = Parameter(default=0, ge=0, le=2**63 - 1),
    ) -> Stream:
        """The campaign's progress lines as SSE (`event: campaign`), then `end` with its final status.
        Resume with `Last-Event-ID` (or `?after=` a stream sequence already seen)."""
        if await stored.latest_by_id(kitt.db, campaign_id) is None:
            raise NotFoundException(detail=f"unknown campaign {campaign_id!r}")
        last = request.headers.get("last-event-id", "")
        after = max(after, int(last) if last.isdigit() else 0)
        return stream(_lines(kitt, request.app.state.hub, campaign_id, after))


def _frame(item: Item) -> bytes:
    try:
        line = logs.decode(item.data)
    except msgspec.DecodeError:
        return b""
    return sse(line.line, event="campaign", id=item.seq)


async def _lines(kitt: ApiContext, hub: Hub, campaign_id: str, after: int) -> AsyncIterator[bytes]:
    async for item in hub.follow(subjects.campaign_log(campaign_id), after):
        if item is None:  # a quiet second: has it ended?
            found = await stored.latest_by_id(kitt.db, campaign_id)
            if found is not None and found.status in ENDED:
                yield sse(found.status, event="end")
                return
            continue
        yield item.frame(_frame)
