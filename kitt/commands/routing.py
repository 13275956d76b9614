"""Which aggregate each command acts on, how its id is found, and the decider that rules on it.

`_route` ties the three together with the command's own type, so each target function is checked against
the command it reads (a field name mistyped is a type error, not a crash at the first such command).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kitt.commands import campaigns, decide
from kitt.commands import messages as m
from kitt.events.ids import derived_id
from kitt.events.types import Event

C = TypeVar("C", bound=m.Command)


@dataclass(frozen=True)
class Route(Generic[C]):
    aggregate: str
    target: Callable[[C], str]  # the aggregate's id, from the command
    decider: Callable[..., list[Event]]  # (command, id, history[, related history]) -> events
    related: tuple[str, Callable[[C], str | None]] | None = None  # another aggregate the rules read


def _route(
    cls: type[C],
    aggregate: str,
    target: Callable[[C], str],
    decider: Callable[..., list[Event]],
    related: tuple[str, Callable[[C], str | None]] | None = None,
) -> tuple[type[m.Command], Route[Any]]:
    return cls, Route(aggregate, target, decider, related)


def _agent_of_test(c: m.RequestTest) -> str | None:
    """The rules for a test read its agent's history too (read, not locked: the dispatcher still refuses
    a test for an agent revoked in between)."""
    return c.agent


ROUTES: dict[type[m.Command], Route[Any]] = dict(
    [
        _route(m.ImportResult, "run", lambda c: c.document.run_id, decide.import_result),
        _route(m.StartRun, "run", lambda c: c.run_id, decide.start_run),
        _route(m.RecordBenchmark, "run", lambda c: c.run_id, decide.record_benchmark),
        _route(m.RecordRunProgress, "run", lambda c: c.run_id, decide.record_run_progress),
        _route(m.FinishRun, "run", lambda c: c.run_id, decide.finish_run),
        _route(
            m.CreateCampaign,
            "campaign",
            lambda c: derived_id("campaign", c.command_id),
            campaigns.create_campaign,
        ),
        _route(m.LaunchCampaign, "campaign", lambda c: c.campaign_id, campaigns.launch_campaign),
        _route(m.CancelCampaign, "campaign", lambda c: c.campaign_id, campaigns.cancel_campaign),
        _route(m.PauseCampaign, "campaign", lambda c: c.campaign_id, campaigns.pause_campaign),
        _route(m.ResumeCampaign, "campaign", lambda c: c.campaign_id, campaigns.resume_campaign),
        _route(m.CompleteCampaign, "campaign", lambda c: c.campaign_id, campaigns.complete_campaign),
        _route(m.DispatchCampaignItem, "campaign_item", campaigns.item_target, campaigns.dispatch_item),
        _route(m.RetryCampaignItem, "campaign_item", campaigns.item_target, campaigns.retry_item),
        _route(m.FinishCampaignItem, "campaign_item", campaigns.item_target, campaigns.finish_item),
        _route(
            m.RequestTest,
            "test",
            lambda c: derived_id("test", c.command_id),
            decide.request_test,
            ("agent", _agent_of_test),
        ),
        _route(m.CancelTest, "test", lambda c: c.test_id, decide.cancel_test),
        _route(m.ProvisionAgent, "agent", lambda c: c.name, decide.provision_agent),
        _route(m.RotateAgentToken, "agent", lambda c: c.agent_id, decide.rotate_agent_token),
        _route(m.RevokeAgent, "agent", lambda c: c.agent_id, decide.revoke_agent),
        _route(m.RegisterAgent, "agent", lambda c: c.name, decide.register_agent),
        _route(m.ChangeAgentSettings, "agent", lambda c: c.agent_id, decide.change_agent_settings),
        _route(m.RefuseReport, "agent", lambda c: c.agent, decide.refuse_report),
        _route(m.DispatchTest, "agent", lambda c: c.agent, decide.dispatch_test),
        _route(m.CancelDispatch, "agent", lambda c: c.agent, decide.cancel_dispatch),
        _route(m.MarkTestDispatched, "test", lambda c: c.test_id, decide.mark_test_dispatched),
        _route(m.StartTest, "test", lambda c: c.test_id, decide.start_test),
        _route(m.FinishTest, "test", lambda c: c.test_id, decide.finish_test),
        _route(m.ChangeSetting, "setting", lambda c: c.key, decide.change_setting),
        _route(m.IssueUserToken, "user", lambda c: c.name, decide.issue_user_token),
        _route(m.RevokeUserToken, "user", lambda c: c.name, decide.revoke_user_token),
        _route(m.EndSession, "session", lambda c: c.session_id, decide.end_session),
        _route(m.SaveEngineProfile, "engine_profile", lambda c: c.name, decide.save_engine_profile),
        _route(m.DeleteEngineProfile, "engine_profile", lambda c: c.name, decide.delete_engine_profile),
        _route(
            m.CreateSchedule,
            "schedule",
            lambda c: derived_id("schedule", c.command_id),
            campaigns.create_schedule,
        ),
        _route(m.DeleteSchedule, "schedule", lambda c: c.schedule_id, campaigns.delete_schedule),
        _route(m.FireSchedule, "schedule", lambda c: c.schedule_id, campaigns.fire_schedule),
        _route(m.ReportMissedSlots, "schedule", lambda c: c.schedule_id, campaigns.report_missed),
    ]
)
