"""Command and reply structs.

A command travels on `kitt.cmd.<name>`; its `command_id` is its idempotency key.
"""

import getpass
import os
from datetime import datetime

import msgspec

from kitt.events.bounds import Capacity
from kitt.events.ids import uuid7
from kitt.events.results import BenchmarkResult, Hardware, ResultDocument, RunInfo
from kitt.events.states import CampaignOutcome, FinalStatus, ReplyCode, Role
from kitt.events.tags import registry, tag_of
from kitt.events.types import (
    BenchmarkStarted,
    CampaignItem,
    CampaignSpec,
    EngineReady,
    Scalar,
    SkippedItem,
    TestSpec,
)


def local_actor() -> str:
    """Who a command from this machine's CLI is: the operating-system user running it. Only holders of
    KITT's service credentials (KITT_HOME, 0600) may send commands at all; the API replaces this with the
    principal it authenticated, and the ingestor with the agent the report's subject names."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"cli:{user}"


class Command(msgspec.Struct, frozen=True, kw_only=True, tag_field="command", forbid_unknown_fields=True):
    command_id: str = msgspec.field(default_factory=uuid7)
    actor: str = msgspec.field(default_factory=local_actor)


class ImportResult(Command, frozen=True, tag="import_result"):
    document: ResultDocument


class StartRun(Command, frozen=True, tag="start_run"):
    run_id: str
    info: RunInfo


class RecordBenchmark(Command, frozen=True, tag="record_benchmark"):
    run_id: str
    result: BenchmarkResult


class RecordRunProgress(Command, frozen=True, tag="record_run_progress"):
    run_id: str
    event: EngineReady | BenchmarkStarted


class FinishRun(Command, frozen=True, tag="finish_run"):
    run_id: str
    status: FinalStatus
    finished_at: datetime
    error: str | None = None


class CreateCampaign(Command, frozen=True, tag="create_campaign"):
    name: str
    spec: CampaignSpec
    items: tuple[CampaignItem, ...] = ()  # the plan; a campaign without one is refused
    skipped: tuple[SkippedItem, ...] = ()


class LaunchCampaign(Command, frozen=True, tag="launch_campaign"):
    campaign_id: str


class CancelCampaign(Command, frozen=True, tag="cancel_campaign"):
    campaign_id: str
    reason: str = ""


class PauseCampaign(Command, frozen=True, tag="pause_campaign"):
    campaign_id: str


class ResumeCampaign(Command, frozen=True, tag="resume_campaign"):
    campaign_id: str


class CompleteCampaign(Command, frozen=True, tag="complete_campaign"):
    campaign_id: str
    status: CampaignOutcome
    succeeded: int
    failed: int


class DispatchCampaignItem(Command, frozen=True, tag="dispatch_campaign_item"):
    campaign_id: str
    key: str
    attempt: int
    test_id: str
    agent: str


class RetryCampaignItem(Command, frozen=True, tag="retry_campaign_item"):
    campaign_id: str
    key: str
    attempt: int
    not_before: datetime
    error: str


class FinishCampaignItem(Command, frozen=True, tag="finish_campaign_item"):
    campaign_id: str
    key: str
    attempt: int
    test_id: str | None
    status: FinalStatus
    run_id: str | None = None
    error: str | None = None
    simulated: bool = False
    skipped: bool = False


class RequestTest(Command, frozen=True, tag="request_test"):
    spec: TestSpec
    agent: str | None = None
    campaign_id: str | None = None


class CancelTest(Command, frozen=True, tag="cancel_test"):
    test_id: str
    reason: str = ""


class ProvisionAgent(Command, frozen=True, tag="provision_agent"):
    name: str
    token_hash: str


class RotateAgentToken(Command, frozen=True, tag="rotate_agent_token"):
    agent_id: str
    token_hash: str


class RevokeAgent(Command, frozen=True, tag="revoke_agent"):
    agent_id: str
    reason: str = ""


class RegisterAgent(Command, frozen=True, tag="register_agent"):
    name: str
    hardware: Hardware | None = None
    engines: tuple[str, ...] = ()
    kitt_version: str | None = None
    capacity: Capacity = 1
    simulated: bool = False


class ChangeAgentSettings(Command, frozen=True, tag="change_agent_settings"):
    agent_id: str
    settings: dict[str, Scalar]


class RefuseReport(Command, frozen=True, tag="refuse_report"):
    """Record an agent's report the ingestor refused (it sends this; the id derives from the position)."""

    agent: str
    subject: str
    stream_seq: int
    reason: str
    size: int  # the report's length and SHA-256, never the report: an agent must not fill EVENTS
    sha256: str


class DispatchTest(Command, frozen=True, tag="dispatch_test"):
    """Queue a requested test on its agent's DISPATCH consumer (the dispatcher sends this)."""

    agent: str
    test_id: str
    spec: TestSpec


class CancelDispatch(Command, frozen=True, tag="cancel_dispatch"):
    agent: str
    test_id: str
    reason: str = ""


class MarkTestDispatched(Command, frozen=True, tag="mark_test_dispatched"):
    test_id: str
    agent: str


class StartTest(Command, frozen=True, tag="start_test"):
    test_id: str
    agent: str
    run_id: str | None = None
    simulated: bool = False


class FinishTest(Command, frozen=True, tag="finish_test"):
    test_id: str
    status: FinalStatus
    run_id: str | None = None
    error: str | None = None
    skipped: bool = False


class ChangeSetting(Command, frozen=True, tag="change_setting"):
    key: str
    value: Scalar


class IssueUserToken(Command, frozen=True, tag="issue_user_token"):
    name: str
    token_hash: str
    role: Role = "viewer"  # least privilege unless an admin is asked for


class EndSession(Command, frozen=True, tag="end_session"):
    session_id: str
    user: str
    expires_at: datetime


class RevokeUserToken(Command, frozen=True, tag="revoke_user_token"):
    name: str
    reason: str = ""


class SaveEngineProfile(Command, frozen=True, tag="save_engine_profile"):
    name: str
    engine: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = {}
    description: str = ""


class DeleteEngineProfile(Command, frozen=True, tag="delete_engine_profile"):
    name: str


class CreateSchedule(Command, frozen=True, tag="create_schedule"):
    name: str
    cron: str
    template: CampaignSpec  # each slot plans it afresh (a model folder may hold new models by then)
    campaign_name: str


class FireSchedule(Command, frozen=True, tag="fire_schedule"):
    schedule_id: str
    slot: datetime
    campaign_id: str | None  # None: the slot fired but planning refused it (`error` says why)
    error: str | None = None


class ReportMissedSlots(Command, frozen=True, tag="report_missed_slots"):
    schedule_id: str
    slots: tuple[datetime, ...]


class DeleteSchedule(Command, frozen=True, tag="delete_schedule"):
    schedule_id: str


AnyCommand = (
    ImportResult
    | StartRun
    | RecordBenchmark
    | RecordRunProgress
    | FinishRun
    | CreateCampaign
    | LaunchCampaign
    | CancelCampaign
    | PauseCampaign
    | ResumeCampaign
    | CompleteCampaign
    | DispatchCampaignItem
    | RetryCampaignItem
    | FinishCampaignItem
    | RequestTest
    | CancelTest
    | ProvisionAgent
    | RotateAgentToken
    | RevokeAgent
    | RegisterAgent
    | ChangeAgentSettings
    | RefuseReport
    | DispatchTest
    | CancelDispatch
    | MarkTestDispatched
    | StartTest
    | FinishTest
    | ChangeSetting
    | IssueUserToken
    | RevokeUserToken
    | EndSession
    | SaveEngineProfile
    | DeleteEngineProfile
    | CreateSchedule
    | DeleteSchedule
    | FireSchedule
    | ReportMissedSlots
)

COMMAND_TYPES: dict[str, type[Command]] = registry(AnyCommand)


def command_name(command: Command) -> str:
    return tag_of(command)


class CommandReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    ok: bool
    ids: tuple[str, ...] = ()  # the aggregates the command created or changed
    seq: int = 0  # stream sequence of the last event appended: wait for projections to reach it
    duplicate: bool = False  # the command had already been applied; nothing new was appended
    error: str | None = None
    code: ReplyCode | None = None
