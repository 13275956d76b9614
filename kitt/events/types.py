"""Every event KITT records, one frozen Struct per fact, in one tagged union.

`aggregate` names the stream of facts the event belongs to (its subject is ev.<aggregate>.<id>.<type>);
`version` is bumped when a payload changes shape, and an upcaster in `codec` lifts old versions on read.
"""

from datetime import datetime

import msgspec

from kitt.events.base import Event, Scalar
from kitt.events.bounds import Capacity, Count, Location, Name, Seconds, Short, Text
from kitt.events.campaigns import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignItem,
    CampaignItemDispatched,
    CampaignItemFinished,
    CampaignItemRetrying,
    CampaignLaunched,
    CampaignPaused,
    CampaignResumed,
    CampaignSpec,
    SkippedItem,
)
from kitt.events.results import BenchmarkResult, Hardware, RunInfo
from kitt.events.states import (
    DEFAULT_TEST_RUNTIME,
    FinalStatus,
    Role,
    RuntimeName,
)
from kitt.events.tags import registry, tag_of


class DevonFetch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """The test's model is a Devon model id: the agent fetches it through Devon before the run (its own
    Devon API key, never carried here) and, with cleanup, removes it after."""

    url: str | None = None  # Devon's API; None: the agent's own Devon (its setting, package or CLI)
    source: str = "huggingface"
    include: tuple[str, ...] = ()  # only files matching these globs


class TestSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    model: str
    engine: str
    suite: str = "quick"
    runtime: RuntimeName = DEFAULT_TEST_RUNTIME
    engine_profile: str | None = None
    force: bool = False
    auto_pull: bool = True
    cleanup_models: bool | None = None  # remove a model copied for it afterwards (None: the agent's setting)
    disk_reserve_gb: float | None = None  # not run when the agent has less free than this
    devon: DevonFetch | None = None  # `model` is fetched through Devon first


# --- agent -------------------------------------------------------------------------------------------


class AgentProvisioned(Event, frozen=True, tag="agent_provisioned"):
    aggregate = "agent"
    name: str
    token_hash: str


class AgentRegistered(Event, frozen=True, tag="agent_registered"):
    aggregate = "agent"
    name: str
    hardware: Hardware | None = None
    engines: tuple[str, ...] = ()
    kitt_version: str | None = None
    capacity: Capacity = 1
    simulated: bool = False


class AgentTokenRotated(Event, frozen=True, tag="agent_token_rotated"):
    aggregate = "agent"
    token_hash: str


class AgentRevoked(Event, frozen=True, tag="agent_revoked"):
    aggregate = "agent"
    reason: str = ""


class AgentSettingsChanged(Event, frozen=True, tag="agent_settings_changed"):
    aggregate = "agent"
    settings: dict[str, Scalar]


class DispatchRequested(Event, frozen=True, tag="dispatch_requested"):
    """Recorded on the agent's subject: DISPATCH sources exactly these into the agent's work queue."""

    aggregate = "agent"
    test_id: str
    spec: TestSpec


class DispatchCancelled(Event, frozen=True, tag="dispatch_cancelled"):
    """Recorded on the agent's subject: DISPATCH sources these into the agent's control queue."""

    aggregate = "agent"
    test_id: str
    reason: str = ""


class ReportRefused(Event, frozen=True, tag="report_refused"):
    """The ingestor refused one of the agent's reports (AGENT_IN): recorded so its projector keeps the
    dead letter, once, however often the report is delivered."""

    aggregate = "agent"
    subject: str
    stream_seq: int  # the report's position in AGENT_IN
    reason: str
    payload: str = ""  # only in refusals recorded before 0.2: the report itself, truncated
    size: Count = 0  # the refused report's length and digest: what an agent sends is never kept
    sha256: Short = ""


# --- test --------------------------------------------------------------------------------------------


class TestRequested(Event, frozen=True, tag="test_requested"):
    aggregate = "test"
    spec: TestSpec
    agent: str | None = None
    campaign_id: str | None = None


class TestDispatched(Event, frozen=True, tag="test_dispatched"):
    aggregate = "test"
    agent: str


class TestStarted(Event, frozen=True, tag="test_started"):
    aggregate = "test"
    agent: str
    run_id: str | None = None
    simulated: bool = False  # a test agent ran it: nothing it produced was measured


class TestFinished(Event, frozen=True, tag="test_finished"):
    aggregate = "test"
    status: FinalStatus
    run_id: str | None = None
    error: str | None = None
    skipped: bool = False  # never run (`error` says why), e.g. too little disk left on the agent


class TestCancelRequested(Event, frozen=True, tag="test_cancel_requested"):
    aggregate = "test"
    reason: str = ""


# --- run (KARR) --------------------------------------------------------------------------------------


class RunStarted(Event, frozen=True, tag="run_started"):
    aggregate = "run"
    info: RunInfo


class EngineReady(Event, frozen=True, tag="engine_ready"):
    """The run's engine answered its health check: what it is and how long it took to come up."""

    aggregate = "run"
    runtime: RuntimeName
    endpoint: Location
    launch_s: Seconds
    engine_version: Name | None = None
    engine_image: Location | None = None
    engine_args: tuple[Text, ...] = ()
    engine_image_id: Name | None = None  # the image's content digest (sha256:…)


class BenchmarkStarted(Event, frozen=True, tag="benchmark_started"):
    aggregate = "run"
    name: Name
    kind: Short


class BenchmarkCompleted(Event, frozen=True, tag="benchmark_completed"):
    aggregate = "run"
    result: BenchmarkResult


class RunFinished(Event, frozen=True, tag="run_finished"):
    aggregate = "run"
    status: FinalStatus
    finished_at: datetime
    error: str | None = None


# --- settings, engine profiles, schedules ------------------------------------------------------------


class SettingChanged(Event, frozen=True, tag="setting_changed"):
    aggregate = "setting"
    key: str
    value: Scalar


class UserTokenIssued(Event, frozen=True, tag="user_token_issued"):
    """A user's API token (replacing any earlier one) and the role it carries; only its SHA-256 is kept.

    Version 2 added `role`; version 1 tokens were all admins, and are read as such."""

    aggregate = "user"
    version = 2
    token_hash: str
    role: Role


class SessionEnded(Event, frozen=True, tag="session_ended"):
    """A browser session was logged out: its cookie opens nothing from now on, on every API instance."""

    aggregate = "session"
    user: str
    expires_at: datetime  # when the cookie would have expired anyway (the row may be dropped after)


class UserTokenRevoked(Event, frozen=True, tag="user_token_revoked"):
    aggregate = "user"
    reason: str = ""


class EngineProfileSaved(Event, frozen=True, tag="engine_profile_saved"):
    aggregate = "engine_profile"
    engine: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = {}
    description: str = ""


class EngineProfileDeleted(Event, frozen=True, tag="engine_profile_deleted"):
    aggregate = "engine_profile"


class ScheduleCreated(Event, frozen=True, tag="schedule_created"):
    """Version 2: a campaign template planned afresh at each slot (version 1 named a campaign)."""

    aggregate = "schedule"
    version = 2
    name: str
    cron: str
    template: CampaignSpec
    campaign_name: str


class ScheduleFired(Event, frozen=True, tag="schedule_fired"):
    aggregate = "schedule"
    slot: datetime
    campaign_id: str | None  # None when planning refused the campaign at that slot
    error: str | None = None


class ScheduleSlotsMissed(Event, frozen=True, tag="schedule_slots_missed"):
    """Slots that passed while no scheduler ran: reported, not fired late (a nightly run at noon would
    collide with the day's work)."""

    aggregate = "schedule"
    slots: tuple[datetime, ...]


class ScheduleDeleted(Event, frozen=True, tag="schedule_deleted"):
    aggregate = "schedule"


AnyEvent = (
    AgentProvisioned
    | AgentRegistered
    | AgentTokenRotated
    | AgentRevoked
    | AgentSettingsChanged
    | DispatchRequested
    | DispatchCancelled
    | ReportRefused
    | TestRequested
    | TestDispatched
    | TestStarted
    | TestFinished
    | TestCancelRequested
    | CampaignCreated
    | CampaignLaunched
    | CampaignPaused
    | CampaignResumed
    | CampaignCompleted
    | CampaignCancelled
    | CampaignItemDispatched
    | CampaignItemRetrying
    | CampaignItemFinished
    | RunStarted
    | EngineReady
    | BenchmarkStarted
    | BenchmarkCompleted
    | RunFinished
    | SettingChanged
    | UserTokenIssued
    | UserTokenRevoked
    | SessionEnded
    | EngineProfileSaved
    | EngineProfileDeleted
    | ScheduleCreated
    | ScheduleDeleted
    | ScheduleFired
    | ScheduleSlotsMissed
)

__all__ = [  # defined beside their aggregates, part of the one union here
    "CampaignCancelled",
    "CampaignCompleted",
    "CampaignCreated",
    "CampaignItem",
    "CampaignItemDispatched",
    "CampaignItemFinished",
    "CampaignItemRetrying",
    "CampaignLaunched",
    "CampaignPaused",
    "CampaignResumed",
    "CampaignSpec",
    "Event",
    "Scalar",
    "SkippedItem",
]

EVENT_TYPES: dict[str, type[Event]] = registry(AnyEvent)
AGGREGATES: frozenset[str] = frozenset(cls.aggregate for cls in EVENT_TYPES.values())


def type_name(event: Event) -> str:
    return tag_of(event)
