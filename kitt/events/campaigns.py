"""Campaign events: a campaign (the plan and how it ends) and its items (each attempt at one cell).

A campaign's items are aggregates of their own (`campaign_item`, id `<campaign>-<key>`), so a long campaign
on many agents never makes every step reload and contend for one long history.
"""

from datetime import datetime

import msgspec

from kitt.events.base import Event
from kitt.events.states import DEFAULT_TEST_RUNTIME, CampaignOutcome, FinalStatus, RuntimeName


class Notify(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    webhook: str
    on: tuple[str, ...] = ("failed", "completed")


class CampaignSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    models: tuple[str, ...]
    engines: tuple[str, ...]
    suites: tuple[str, ...] = ("quick",)
    agent: str | None = None  # None: this machine's local agent
    agents: tuple[str, ...] = ()  # several: items are shared out among them and run in parallel
    max_retries: int = 0
    test_timeout_s: float = 1800.0
    retry_backoff_s: float = 30.0  # the first retry's wait; it doubles for each further one
    description: str = ""
    runtime: RuntimeName | None = None
    engine_runtimes: dict[str, RuntimeName] = {}
    engine_profiles: dict[str, str] = {}
    quant_filter: tuple[str, ...] = ()
    cleanup: bool = True
    disk_reserve_gb: float | None = None
    devon_managed: bool = False
    devon_url: str | None = None  # its API key never travels in an event: it stays in the campaign file
    notify: Notify | None = None
    source: str | None = None  # the campaign file it came from
    resumes: str | None = None  # the campaign whose failed and unrun items this one runs again


class CampaignItem(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    key: str  # "001": the item's place in the plan, and its aggregate id's suffix
    model: str
    engine: str
    suite: str
    agent: str
    runtime: RuntimeName = DEFAULT_TEST_RUNTIME
    engine_profile: str | None = None
    model_format: str | None = None
    size_bytes: int = 0


class SkippedItem(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    model: str
    engine: str
    suite: str
    agent: str | None
    reason: str


class CampaignCreated(Event, frozen=True, tag="campaign_created"):
    aggregate = "campaign"
    name: str
    spec: CampaignSpec
    items: tuple[CampaignItem, ...] = ()
    skipped: tuple[SkippedItem, ...] = ()


class CampaignLaunched(Event, frozen=True, tag="campaign_launched"):
    aggregate = "campaign"


class CampaignPaused(Event, frozen=True, tag="campaign_paused"):
    aggregate = "campaign"


class CampaignResumed(Event, frozen=True, tag="campaign_resumed"):
    aggregate = "campaign"


class CampaignCompleted(Event, frozen=True, tag="campaign_completed"):
    aggregate = "campaign"
    status: CampaignOutcome
    succeeded: int = 0
    failed: int = 0


class CampaignCancelled(Event, frozen=True, tag="campaign_cancelled"):
    aggregate = "campaign"
    reason: str = ""


class CampaignItemDispatched(Event, frozen=True, tag="campaign_item_dispatched"):
    """The manager's intent, recorded before the test is requested: test_id is derived from
    (campaign, key, attempt), so a restart requests the same test again, never a second one."""

    aggregate = "campaign_item"
    campaign_id: str
    key: str
    attempt: int
    test_id: str
    agent: str


class CampaignItemRetrying(Event, frozen=True, tag="campaign_item_retrying"):
    aggregate = "campaign_item"
    campaign_id: str
    key: str
    attempt: int  # the attempt that failed
    not_before: datetime  # when the next attempt may start
    error: str


class CampaignItemFinished(Event, frozen=True, tag="campaign_item_finished"):
    aggregate = "campaign_item"
    campaign_id: str
    key: str
    attempt: int
    test_id: str | None
    status: FinalStatus
    run_id: str | None = None
    error: str | None = None
    simulated: bool = False
    skipped: bool = False  # the agent did not run it (`error` says why): neither a success nor a failure


def item_id(campaign_id: str, key: str) -> str:
    return f"{campaign_id}-{key}"


CampaignEvent = (
    CampaignCreated
    | CampaignLaunched
    | CampaignPaused
    | CampaignResumed
    | CampaignCompleted
    | CampaignCancelled
    | CampaignItemDispatched
    | CampaignItemRetrying
    | CampaignItemFinished
)
