"""What a campaign tells people: its progress lines on the campaign's log (LOGS, `clog.<id>`), and the
webhook its file names, when it completes."""

import contextlib
from datetime import UTC, datetime

import httpx
import msgspec
import nats.errors
import structlog
from nats.aio.client import Client

from kitt.devon.address import UpstreamRefused, check_url
from kitt.events import logs, subjects
from kitt.events import types as ev
from kitt.events.envelope import StoredEvent
from kitt.orchestration import campaign_state as cs

log = structlog.get_logger(__name__)


async def say(nc: Client, campaign: cs.CampaignState, stored: StoredEvent) -> None:
    """The event's progress line, once: its id derives from the event's position, so a redelivered event
    (after a restart) adds no second line."""
    line = progress_line(campaign, stored.envelope.event)
    if line is None:
        return
    entry = logs.LogLine(
        run_id=campaign.campaign_id, source="campaign", line=line, at=stored.envelope.occurred_at
    )
    headers = {"Nats-Msg-Id": f"clog:{stored.seq}"}
    with contextlib.suppress(nats.errors.Error, TimeoutError):  # a lost line must not stall the campaign
        await nc.jetstream().publish(
            subjects.campaign_log(campaign.campaign_id), logs.encode(entry), headers=headers
        )


async def notify(nc: Client, campaign: cs.CampaignState, event: ev.CampaignCompleted) -> None:
    """POST the outcome to the webhook: on `completed` always, on `failed` unless it succeeded. The
    webhook passes the same address checks as Devon (no link-local or metadata address, no credentials
    in the URL; redirects are not followed); a refusal or failure is a line on the campaign's log."""
    wanted = campaign.spec.notify
    if wanted is None:
        return
    if "completed" not in wanted.on and not ("failed" in wanted.on and event.status != "succeeded"):
        return
    body = {
        "campaign_id": campaign.campaign_id,
        "name": campaign.name,
        "status": event.status,
        "succeeded": event.succeeded,
        "failed": event.failed,
    }
    try:
        url = await check_url(wanted.webhook, "notify.webhook")
        async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
            await client.post(
                url, content=msgspec.json.encode(body), headers={"content-type": "application/json"}
            )
    except (UpstreamRefused, httpx.HTTPError) as exc:
        log.warning("campaigns.notify_failed", campaign=campaign.campaign_id, error=str(exc))
        await _line(nc, campaign.campaign_id, f"webhook not told: {exc}", "clog:notify")


async def _line(nc: Client, campaign_id: str, line: str, msg_id: str) -> None:
    entry = logs.LogLine(run_id=campaign_id, source="campaign", line=line, at=datetime.now(UTC))
    headers = {"Nats-Msg-Id": f"{msg_id}:{campaign_id}"}
    with contextlib.suppress(nats.errors.Error, TimeoutError):
        await nc.jetstream().publish(subjects.campaign_log(campaign_id), logs.encode(entry), headers=headers)


def progress_line(campaign: cs.CampaignState, event: ev.Event) -> str | None:
    def cell(key: str) -> str:
        item = campaign.items[key].item
        return f"item {key} ({item.model.rsplit('/', 1)[-1]} x {item.engine} x {item.suite} on {item.agent})"

    if isinstance(event, ev.CampaignCreated):
        return f"planned {len(event.items)} items, {len(event.skipped)} skipped"
    if isinstance(event, ev.CampaignLaunched):
        return f"launched: {len(campaign.items)} items"
    if isinstance(event, ev.CampaignPaused | ev.CampaignResumed):
        return "paused" if isinstance(event, ev.CampaignPaused) else "resumed"
    if isinstance(event, ev.CampaignCancelled):
        return f"cancelled: {event.reason or 'by request'}"
    if isinstance(event, ev.CampaignCompleted):
        return f"completed: {event.status} ({event.succeeded} succeeded, {event.failed} failed)"
    if isinstance(event, ev.CampaignItemDispatched) and event.key in campaign.items:
        return f"{cell(event.key)}: attempt {event.attempt} requested as test {event.test_id}"
    if isinstance(event, ev.CampaignItemRetrying) and event.key in campaign.items:
        wait = event.not_before.strftime("%H:%M:%S")
        return f"{cell(event.key)}: attempt {event.attempt} failed ({event.error}); retrying at {wait} UTC"
    if isinstance(event, ev.CampaignItemFinished) and event.key in campaign.items:
        why = f": {event.error}" if event.error and event.status != "succeeded" else ""
        simulated = " (simulated)" if event.simulated else ""
        return f"{cell(event.key)}: {event.status}{simulated}{why}"
    return None
