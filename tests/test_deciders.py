"""Every decider branch, as a table: a command against an aggregate's history gives these events, or is
refused with this code and message. Deciders are pure, so this needs no NATS and no database."""

from datetime import UTC, datetime

import msgspec
import pytest

from kitt.commands import campaigns as campaign_rules
from kitt.commands import decide
from kitt.commands import messages as m
from kitt.commands.routing import ROUTES
from kitt.events import types as ev
from kitt.events.results import Gpu, Hardware
from tests.factories import document, performance_result

T = datetime(2026, 12, 1, tzinfo=UTC)
H = "0" * 64
DOC = document("run-1")
SPEC = ev.TestSpec(model="/m.gguf", engine="llama_cpp", runtime="native")
CAMPAIGN = ev.CampaignSpec(models=("a",), engines=("vllm",))
ITEMS = (ev.CampaignItem(key="001", model="a", engine="vllm", suite="quick", agent="gpu-1"),)
ARM = Hardware(fingerprint="f", arch="aarch64", gpus=(Gpu(index=0, name="GH200"),))

RUN = [ev.RunStarted(info=DOC.info)]
RUN_DONE = [*RUN, ev.RunFinished(status="succeeded", finished_at=T)]
PROVISIONED = [ev.AgentProvisioned(name="a", token_hash=H)]
REVOKED = [*PROVISIONED, ev.AgentRevoked()]
ON_ARM = [*PROVISIONED, ev.AgentRegistered(name="a", hardware=ARM)]
REQUESTED = [ev.TestRequested(spec=SPEC, agent="a")]
DISPATCHED = [*REQUESTED, ev.TestDispatched(agent="a")]
STARTED = [*DISPATCHED, ev.TestStarted(agent="a", run_id="r")]
FINISHED = [*DISPATCHED, ev.TestFinished(status="failed")]
CREATED = [ev.CampaignCreated(name="c", spec=CAMPAIGN, items=ITEMS)]
LAUNCHED = [*CREATED, ev.CampaignLaunched()]
PAUSED = [*LAUNCHED, ev.CampaignPaused()]
ITEM_DISPATCHED = [
    ev.CampaignItemDispatched(campaign_id="c1", key="001", attempt=1, test_id="t1", agent="gpu-1")
]
RETRYING = [
    *ITEM_DISPATCHED,
    ev.CampaignItemRetrying(campaign_id="c1", key="001", attempt=1, not_before=T, error="x"),
]
ITEM_DONE = [
    *ITEM_DISPATCHED,
    ev.CampaignItemFinished(campaign_id="c1", key="001", attempt=1, test_id="t1", status="failed"),
]
FIRED = [
    ev.ScheduleCreated(name="n", cron="0 2 * * *", template=CAMPAIGN, campaign_name="c"),
    ev.ScheduleFired(slot=T, campaign_id="c1"),
]


def _item(cls, attempt: int = 1, **fields):
    base = {"campaign_id": "c1", "key": "001", "attempt": attempt}
    if cls is m.DispatchCampaignItem:
        base |= {"test_id": "t1", "agent": "gpu-1"}
    elif cls is m.RetryCampaignItem:
        base |= {"not_before": T, "error": "boom"}
    else:
        base |= {"test_id": "t1", "status": "failed"}
    return cls(**(base | fields))


SETTINGS = [*PROVISIONED, ev.AgentSettingsChanged(settings={"model_dir": "/models"})]


def _settings(**values) -> m.ChangeAgentSettings:
    return m.ChangeAgentSettings(agent_id="a", settings=values)


def _test(agent: str | None = "a", **spec) -> m.RequestTest:
    return m.RequestTest(spec=ev.TestSpec(**({"model": "/m", "engine": "vllm"} | spec)), agent=agent)


# (decider, command, aggregate id, history[, related history]) -> events
ACCEPTED = [
    ("import", decide.import_result, m.ImportResult(document=DOC), "run-1", [], (), 4),
    ("start run", decide.start_run, m.StartRun(run_id="r", info=DOC.info), "r", [], (), 1),
    ("record benchmark", decide.record_benchmark, m.RecordBenchmark(run_id="r", result=performance_result()), "r", RUN, (), 1),
    ("finish run", decide.finish_run, m.FinishRun(run_id="r", status="failed", finished_at=T), "r", RUN, (), 1),
    ("create campaign", campaign_rules.create_campaign, m.CreateCampaign(name=" c ", spec=CAMPAIGN, items=ITEMS), "c1", [], (), 1),
    ("launch campaign", campaign_rules.launch_campaign, m.LaunchCampaign(campaign_id="c1"), "c1", CREATED, (), 1),
    ("cancel campaign", campaign_rules.cancel_campaign, m.CancelCampaign(campaign_id="c1"), "c1", LAUNCHED, (), 1),
    ("pause campaign", campaign_rules.pause_campaign, m.PauseCampaign(campaign_id="c1"), "c1", LAUNCHED, (), 1),
    ("resume campaign", campaign_rules.resume_campaign, m.ResumeCampaign(campaign_id="c1"), "c1", PAUSED, (), 1),
    ("complete campaign", campaign_rules.complete_campaign, m.CompleteCampaign(campaign_id="c1", status="completed_with_failures", succeeded=1, failed=1), "c1", LAUNCHED, (), 1),
    ("dispatch item", campaign_rules.dispatch_item, _item(m.DispatchCampaignItem), "c1-001", [], (), 1),
    ("dispatch a retry", campaign_rules.dispatch_item, _item(m.DispatchCampaignItem, 2, test_id="t2"), "c1-001", RETRYING, (), 1),
    ("retry item", campaign_rules.retry_item, _item(m.RetryCampaignItem), "c1-001", ITEM_DISPATCHED, (), 1),
    ("finish item", campaign_rules.finish_item, _item(m.FinishCampaignItem), "c1-001", ITEM_DISPATCHED, (), 1),
    ("item not run", campaign_rules.finish_item, _item(m.FinishCampaignItem, 0, status="cancelled", test_id=None), "c1-001", [], (), 1),
    ("fire schedule", campaign_rules.fire_schedule, m.FireSchedule(schedule_id="s", slot=T.replace(hour=3), campaign_id="c2"), "s", FIRED, (), 1),
    ("missed slots", campaign_rules.report_missed, m.ReportMissedSlots(schedule_id="s", slots=(T,)), "s", FIRED, (), 1),
    ("test on an agent", decide.request_test, _test(), "t", [], PROVISIONED, 1),
    ("test with no agent", decide.request_test, _test(agent=None), "t", [], [], 1),
    ("test forced onto arm", decide.request_test, _test(engine="tgi", force=True), "t", [], ON_ARM, 1),
    ("cancel test", decide.cancel_test, m.CancelTest(test_id="t"), "t", DISPATCHED, (), 1),
    ("provision", decide.provision_agent, m.ProvisionAgent(name="a", token_hash=H), "a", [], (), 1),
    ("provision again after revoke", decide.provision_agent, m.ProvisionAgent(name="a", token_hash=H), "a", REVOKED, (), 1),
    ("rotate", decide.rotate_agent_token, m.RotateAgentToken(agent_id="a", token_hash=H), "a", PROVISIONED, (), 1),
    ("revoke", decide.revoke_agent, m.RevokeAgent(agent_id="a"), "a", PROVISIONED, (), 1),
    ("register", decide.register_agent, m.RegisterAgent(name="a"), "a", PROVISIONED, (), 1),
    ("settings", decide.change_agent_settings, _settings(heartbeat_s=5), "a", PROVISIONED, (), 1),
    ("settings unchanged", decide.change_agent_settings, _settings(model_dir="/models"), "a", SETTINGS, (), 0),
    ("refuse report", decide.refuse_report, m.RefuseReport(agent="a", subject="in.a.x", stream_seq=3, reason="r", size=1, sha256="0" * 64), "a", [], (), 1),
    ("dispatch", decide.dispatch_test, m.DispatchTest(agent="a", test_id="t", spec=SPEC), "a", PROVISIONED, (), 1),
    ("cancel dispatch", decide.cancel_dispatch, m.CancelDispatch(agent="a", test_id="t"), "a", [*PROVISIONED, ev.DispatchRequested(test_id="t", spec=SPEC)], (), 1),
    ("mark dispatched", decide.mark_test_dispatched, m.MarkTestDispatched(test_id="t", agent="a"), "t", REQUESTED, (), 1),
    ("start test", decide.start_test, m.StartTest(test_id="t", agent="a", run_id="r"), "t", DISPATCHED, (), 1),
    ("finish test", decide.finish_test, m.FinishTest(test_id="t", status="succeeded"), "t", STARTED, (), 1),
    ("finish test, its run", decide.finish_test, m.FinishTest(test_id="t", status="succeeded", run_id="r"), "t", STARTED, (), 1),
    ("setting", decide.change_setting, m.ChangeSetting(key="model_dir", value="/m"), "model_dir", [], (), 1),
    ("setting unchanged", decide.change_setting, m.ChangeSetting(key="k", value=1), "k", [ev.SettingChanged(key="k", value=1)], (), 0),
    ("user token", decide.issue_user_token, m.IssueUserToken(name="alice", token_hash=H), "alice", [], (), 1),
    ("revoke user", decide.revoke_user_token, m.RevokeUserToken(name="alice"), "alice", [ev.UserTokenIssued(token_hash=H, role="viewer")], (), 1),
    ("end session", decide.end_session, m.EndSession(session_id="s", user="alice", expires_at=T), "s", [], (), 1),
    ("session already ended", decide.end_session, m.EndSession(session_id="s", user="alice", expires_at=T), "s", [ev.SessionEnded(user="alice", expires_at=T)], (), 0),
    ("save profile", decide.save_engine_profile, m.SaveEngineProfile(name="p", engine="vllm"), "p", [], (), 1),
    ("delete profile", decide.delete_engine_profile, m.DeleteEngineProfile(name="p"), "p", [ev.EngineProfileSaved(engine="vllm")], (), 1),
    ("schedule", campaign_rules.create_schedule, m.CreateSchedule(name="n", cron="0 2 * * *", template=CAMPAIGN, campaign_name="c"), "s", [], (), 1),
    ("delete schedule", campaign_rules.delete_schedule, m.DeleteSchedule(schedule_id="s"), "s", [ev.ScheduleCreated(name="n", cron="0 2 * * *", template=CAMPAIGN, campaign_name="c")], (), 1),
]  # fmt: skip

REFUSED = [
    ("import twice", decide.import_result, m.ImportResult(document=DOC), "run-1", RUN, (), "conflict", "already exists"),
    ("import unfinished", decide.import_result, m.ImportResult(document=msgspec.structs.replace(document("r2"), status="running")), "r2", [], (), "invalid", "only finished runs"),
    ("start run twice", decide.start_run, m.StartRun(run_id="r", info=DOC.info), "r", RUN, (), "conflict", "already exists"),
    ("benchmark, no run", decide.record_benchmark, m.RecordBenchmark(run_id="r", result=performance_result()), "r", [], (), "not_found", "does not exist"),
    ("benchmark, run over", decide.record_benchmark, m.RecordBenchmark(run_id="r", result=performance_result()), "r", RUN_DONE, (), "conflict", "already finished"),
    ("progress, no run", decide.record_run_progress, m.RecordRunProgress(run_id="r", event=ev.BenchmarkStarted(name="b", kind="performance")), "r", [], (), "not_found", "does not exist"),
    ("progress, run over", decide.record_run_progress, m.RecordRunProgress(run_id="r", event=ev.BenchmarkStarted(name="b", kind="performance")), "r", RUN_DONE, (), "conflict", "already finished"),
    ("finish, no run", decide.finish_run, m.FinishRun(run_id="r", status="failed", finished_at=T), "r", [], (), "not_found", "does not exist"),
    ("finish twice", decide.finish_run, m.FinishRun(run_id="r", status="failed", finished_at=T), "r", RUN_DONE, (), "conflict", "already finished"),
    ("finish, bad status", decide.finish_run, m.FinishRun(run_id="r", status="done", finished_at=T), "r", RUN, (), "invalid", "status must be one of"),
    ("campaign, empty matrix", campaign_rules.create_campaign, m.CreateCampaign(name="c", spec=CAMPAIGN, skipped=(ev.SkippedItem(model="a", engine="vllm", suite="quick", agent=None, reason="vLLM cannot serve a gguf model"),)), "c1", [], (), "invalid", "matrix is empty: nothing would run (vLLM cannot serve a gguf model)"),
    ("pause twice", campaign_rules.pause_campaign, m.PauseCampaign(campaign_id="c1"), "c1", PAUSED, (), "conflict", "already paused"),
    ("pause, not launched", campaign_rules.pause_campaign, m.PauseCampaign(campaign_id="c1"), "c1", CREATED, (), "conflict", "not been launched"),
    ("resume, not paused", campaign_rules.resume_campaign, m.ResumeCampaign(campaign_id="c1"), "c1", LAUNCHED, (), "conflict", "not paused"),
    ("succeeded with failures", campaign_rules.complete_campaign, m.CompleteCampaign(campaign_id="c1", status="succeeded", succeeded=1, failed=1), "c1", LAUNCHED, (), "invalid", "not succeeded"),
    ("complete, cancelled", campaign_rules.complete_campaign, m.CompleteCampaign(campaign_id="c1", status="failed", succeeded=0, failed=1), "c1", [*LAUNCHED, ev.CampaignCancelled()], (), "conflict", "already ended"),
    ("dispatch, skipping an attempt", campaign_rules.dispatch_item, _item(m.DispatchCampaignItem, 2), "c1-001", [], (), "conflict", "not the next one"),
    ("dispatch, item done", campaign_rules.dispatch_item, _item(m.DispatchCampaignItem, 2), "c1-001", ITEM_DONE, (), "conflict", "already finished"),
    ("retry, attempt failed already", campaign_rules.retry_item, _item(m.RetryCampaignItem), "c1-001", RETRYING, (), "conflict", "already failed"),
    ("finish, old attempt", campaign_rules.finish_item, _item(m.FinishCampaignItem, 1), "c1-001", [*RETRYING, ev.CampaignItemDispatched(campaign_id="c1", key="001", attempt=2, test_id="t2", agent="gpu-1")], (), "conflict", "not the current one"),
    ("fire a slot twice", campaign_rules.fire_schedule, m.FireSchedule(schedule_id="s", slot=T, campaign_id="c1"), "s", FIRED, (), "conflict", "already fired"),
    ("fire, no schedule", campaign_rules.fire_schedule, m.FireSchedule(schedule_id="s", slot=T, campaign_id="c1"), "s", [], (), "not_found", "does not exist"),
    ("missed, no schedule", campaign_rules.report_missed, m.ReportMissedSlots(schedule_id="s", slots=(T,)), "s", [], (), "not_found", "does not exist"),
    ("schedule, never fires", campaign_rules.create_schedule, m.CreateSchedule(name="n", cron="0 0 31 2 *", template=CAMPAIGN, campaign_name="c"), "s", [], (), "invalid", "never fires"),
    ("campaign twice", campaign_rules.create_campaign, m.CreateCampaign(name="c", spec=CAMPAIGN, items=ITEMS), "c1", CREATED, (), "conflict", "already exists"),
    ("campaign, no name", campaign_rules.create_campaign, m.CreateCampaign(name="  ", spec=CAMPAIGN, items=ITEMS), "c1", [], (), "invalid", "needs a name"),
    ("campaign, no models", campaign_rules.create_campaign, m.CreateCampaign(name="c", spec=ev.CampaignSpec(models=(), engines=("vllm",))), "c1", [], (), "invalid", "`models`"),
    ("launch, no campaign", campaign_rules.launch_campaign, m.LaunchCampaign(campaign_id="c1"), "c1", [], (), "not_found", "does not exist"),
    ("launch twice", campaign_rules.launch_campaign, m.LaunchCampaign(campaign_id="c1"), "c1", LAUNCHED, (), "conflict", "already launched"),
    ("cancel, no campaign", campaign_rules.cancel_campaign, m.CancelCampaign(campaign_id="c1"), "c1", [], (), "not_found", "does not exist"),
    ("cancel, ended", campaign_rules.cancel_campaign, m.CancelCampaign(campaign_id="c1"), "c1", [*LAUNCHED, ev.CampaignCancelled()], (), "conflict", "already ended"),
    ("test twice", decide.request_test, _test(), "t", REQUESTED, PROVISIONED, "conflict", "already exists"),
    ("test, no model", decide.request_test, _test(model=" "), "t", [], PROVISIONED, "invalid", "needs a model"),
    ("test, unknown engine", decide.request_test, _test(engine="nosuch"), "t", [], PROVISIONED, "invalid", "unknown engine 'nosuch'"),
    ("test, runtime the engine lacks", decide.request_test, _test(engine="exllamav2", runtime="native"), "t", [], PROVISIONED, "invalid", "runs on docker, external, not 'native'"),
    ("test, unknown agent", decide.request_test, _test(), "t", [], [], "not_found", "unknown agent 'a'"),
    ("test, revoked agent", decide.request_test, _test(), "t", [], REVOKED, "conflict", "has been revoked"),
    ("test, engine not on arm", decide.request_test, _test(engine="tgi"), "t", [], ON_ARM, "invalid", "no build for a's platform (aarch64"),
    ("cancel, no test", decide.cancel_test, m.CancelTest(test_id="t"), "t", [], (), "not_found", "does not exist"),
    ("cancel, test over", decide.cancel_test, m.CancelTest(test_id="t"), "t", FINISHED, (), "conflict", "already finished (failed)"),
    ("provision twice", decide.provision_agent, m.ProvisionAgent(name="a", token_hash=H), "a", PROVISIONED, (), "conflict", "rotate its token instead"),
    ("rotate, no agent", decide.rotate_agent_token, m.RotateAgentToken(agent_id="a", token_hash=H), "a", [], (), "not_found", "does not exist"),
    ("rotate, revoked", decide.rotate_agent_token, m.RotateAgentToken(agent_id="a", token_hash=H), "a", REVOKED, (), "conflict", "has been revoked"),
    ("revoke twice", decide.revoke_agent, m.RevokeAgent(agent_id="a"), "a", REVOKED, (), "conflict", "has been revoked"),
    ("register, revoked", decide.register_agent, m.RegisterAgent(name="a"), "a", REVOKED, (), "conflict", "has been revoked"),
    ("settings, unknown key", decide.change_agent_settings, _settings(colour="red"), "a", PROVISIONED, (), "invalid", "unknown agent setting 'colour'"),
    ("settings, wrong type", decide.change_agent_settings, _settings(model_dir=3), "a", PROVISIONED, (), "invalid", "model_dir must be str"),
    ("settings, bool for a number", decide.change_agent_settings, _settings(heartbeat_s=True), "a", PROVISIONED, (), "invalid", "heartbeat_s must be int or float"),
    ("settings, number for a bool", decide.change_agent_settings, _settings(cleanup_models=1), "a", PROVISIONED, (), "invalid", "cleanup_models must be bool"),
    ("settings, heartbeat range", decide.change_agent_settings, _settings(heartbeat_s=0.1), "a", PROVISIONED, (), "invalid", "between 0.5 and 600"),
    ("settings, model_dir in the share", decide.change_agent_settings, _settings(nfs_mount="/share"), "a", [*PROVISIONED, ev.AgentSettingsChanged(settings={"model_dir": "/share/x"})], (), "invalid", "inside the share"),
    ("settings, revoked", decide.change_agent_settings, _settings(heartbeat_s=5), "a", REVOKED, (), "conflict", "has been revoked"),
    ("dispatch, no agent", decide.dispatch_test, m.DispatchTest(agent="a", test_id="t", spec=SPEC), "a", [], (), "not_found", "unknown agent 'a'"),
    ("dispatch, revoked", decide.dispatch_test, m.DispatchTest(agent="a", test_id="t", spec=SPEC), "a", REVOKED, (), "conflict", "has been revoked"),
    ("cancel dispatch, no agent", decide.cancel_dispatch, m.CancelDispatch(agent="a", test_id="t"), "a", [], (), "not_found", "does not exist"),
    ("cancel dispatch, never sent", decide.cancel_dispatch, m.CancelDispatch(agent="a", test_id="t"), "a", PROVISIONED, (), "not_found", "never sent test t"),
    ("mark, no test", decide.mark_test_dispatched, m.MarkTestDispatched(test_id="t", agent="a"), "t", [], (), "not_found", "does not exist"),
    ("mark, test over", decide.mark_test_dispatched, m.MarkTestDispatched(test_id="t", agent="a"), "t", FINISHED, (), "conflict", "already finished"),
    ("start, not assigned", decide.start_test, m.StartTest(test_id="t", agent="b"), "t", DISPATCHED, (), "forbidden", "not assigned to agent b"),
    ("start twice", decide.start_test, m.StartTest(test_id="t", agent="a"), "t", STARTED, (), "conflict", "already started"),
    ("finish test, bad status", decide.finish_test, m.FinishTest(test_id="t", status="done"), "t", STARTED, (), "invalid", "status must be one of"),
    ("finish test twice", decide.finish_test, m.FinishTest(test_id="t", status="failed"), "t", FINISHED, (), "conflict", "already finished"),
    ("finish test, another run", decide.finish_test, m.FinishTest(test_id="t", status="succeeded", run_id="r2"), "t", STARTED, (), "conflict", "run r2 is not the run of test t"),
    ("finish test, run never started", decide.finish_test, m.FinishTest(test_id="t", status="succeeded", run_id="r"), "t", DISPATCHED, (), "conflict", "run r is not the run of test t"),
    ("user, bad name", decide.issue_user_token, m.IssueUserToken(name="Bad Name", token_hash=H), "Bad Name", [], (), "invalid", "user name 'Bad Name'"),
    ("user, reserved name", decide.issue_user_token, m.IssueUserToken(name="admin", token_hash=H), "admin", [], (), "invalid", "(not admin, agent or local)"),
    ("user, the owner's name", decide.issue_user_token, m.IssueUserToken(name="local", token_hash=H), "local", [], (), "invalid", "(not admin, agent or local)"),
    ("user, bad role", decide.issue_user_token, m.IssueUserToken(name="bob", token_hash=H, role="root"), "bob", [], (), "invalid", "role must be one of admin, viewer"),
    ("revoke user, none", decide.revoke_user_token, m.RevokeUserToken(name="bob"), "bob", [], (), "not_found", "no live token"),
    ("delete profile, none", decide.delete_engine_profile, m.DeleteEngineProfile(name="p"), "p", [], (), "not_found", "does not exist"),
    ("profile, LD_PRELOAD", decide.save_engine_profile, m.SaveEngineProfile(name="p", engine="vllm", env={"LD_PRELOAD": "/tmp/x.so"}), "p", [], (), "invalid", "may not set LD_PRELOAD"),
    ("profile, PYTHONSTARTUP", decide.save_engine_profile, m.SaveEngineProfile(name="p", engine="vllm", env={"CUDA_VISIBLE_DEVICES": "0", "pythonstartup": "x"}), "p", [], (), "invalid", "may not set pythonstartup"),
    ("profile, PATH", decide.save_engine_profile, m.SaveEngineProfile(name="p", engine="vllm", env={"PATH": "/tmp"}), "p", [], (), "invalid", "may not set PATH"),
    ("schedule twice", campaign_rules.create_schedule, m.CreateSchedule(name="n", cron="0 2 * * *", template=CAMPAIGN, campaign_name="c"), "s", [ev.ScheduleCreated(name="n", cron="0 2 * * *", template=CAMPAIGN, campaign_name="c")], (), "conflict", "already exists"),
    ("schedule, bad cron", campaign_rules.create_schedule, m.CreateSchedule(name="n", cron="every night", template=CAMPAIGN, campaign_name="c"), "s", [], (), "invalid", "must have 5 fields"),
    ("delete schedule, none", campaign_rules.delete_schedule, m.DeleteSchedule(schedule_id="s"), "s", [], (), "not_found", "does not exist"),
    ("delete schedule twice", campaign_rules.delete_schedule, m.DeleteSchedule(schedule_id="s"), "s", [ev.ScheduleCreated(name="n", cron="0 2 * * *", template=CAMPAIGN, campaign_name="c"), ev.ScheduleDeleted()], (), "not_found", "was deleted"),
]  # fmt: skip


def _decide(decider, command, aggregate_id, history, related):
    extra = [list(related)] if decider is decide.request_test else []
    return decider(command, aggregate_id, history, *extra)


@pytest.mark.parametrize(
    ("name", "decider", "command", "aggregate_id", "history", "related", "count"),
    ACCEPTED,
    ids=[c[0] for c in ACCEPTED],
)
def test_accepted(name, decider, command, aggregate_id, history, related, count):
    events = _decide(decider, command, aggregate_id, history, related)
    assert len(events) == count and all(isinstance(e, ev.Event) for e in events)


@pytest.mark.parametrize(
    ("name", "decider", "command", "aggregate_id", "history", "related", "code", "why"),
    REFUSED,
    ids=[c[0] for c in REFUSED],
)
def test_refused(name, decider, command, aggregate_id, history, related, code, why):
    with pytest.raises(decide.Rejected) as refused:
        _decide(decider, command, aggregate_id, history, related)
    assert refused.value.code == code and why in str(refused.value), str(refused.value)


def test_every_command_has_a_decider_and_the_table_covers_each():
    covered = {case[1] for case in ACCEPTED + REFUSED}
    assert {route.decider for route in ROUTES.values()} <= covered
    assert set(ROUTES) == set(m.COMMAND_TYPES.values())


def test_what_the_deciders_record():
    [requested] = decide.request_test(_test(engine="llama.cpp", runtime="native"), "t", [], PROVISIONED)
    assert requested.spec.engine == "llama_cpp"  # the engine's own name, whatever alias was given
    [changed] = decide.change_agent_settings(_settings(heartbeat_s=5), "a", SETTINGS)
    assert changed.settings == {"model_dir": "/models", "heartbeat_s": 5}  # the whole set
    [issued] = decide.issue_user_token(m.IssueUserToken(name="alice", token_hash=H), "alice", [])
    assert issued.role == "viewer"  # least privilege unless asked
    [created] = campaign_rules.create_campaign(
        m.CreateCampaign(name=" c ", spec=CAMPAIGN, items=ITEMS), "c1", []
    )
    assert created.name == "c"
