"""Decisions: given a command and the events its aggregate already has, the events to append.

Pure functions; no I/O. A refusal raises `Rejected` with the reply code and a precise message.
"""

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TypeVar

import msgspec

from kitt.commands import messages as m
from kitt.engines import profile_env, specs
from kitt.events import states
from kitt.events import types as ev
from kitt.events.states import FINAL_STATUSES, ReplyCode


class Rejected(Exception):
    def __init__(self, code: ReplyCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Decision:
    aggregate: str
    aggregate_id: str
    events: list[ev.Event]


def _need(history: Sequence[ev.Event], what: str, aggregate_id: str) -> None:
    if not history:
        raise Rejected("not_found", f"{what} {aggregate_id!r} does not exist")


def _new(history: Sequence[ev.Event], what: str, aggregate_id: str) -> None:
    if history:
        raise Rejected("conflict", f"{what} {aggregate_id!r} already exists")


E = TypeVar("E", bound=ev.Event)


def _last(history: Sequence[ev.Event], *types: type[E]) -> E | None:
    """The latest event of one of these types (typed as the one type when one is asked for)."""
    for event in reversed(history):
        if isinstance(event, types):
            return event
    return None


# --- runs --------------------------------------------------------------------------------------------


def _run_finished(history: Sequence[ev.Event]) -> bool:
    return _last(history, ev.RunFinished) is not None


def import_result(cmd: m.ImportResult, run_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _new(history, "run", run_id)
    doc = cmd.document
    status = doc.status
    if status == "running" or doc.finished_at is None:
        raise Rejected("invalid", f"run {run_id}: only finished runs can be imported (status {status!r})")
    events: list[ev.Event] = [ev.RunStarted(info=doc.info)]
    events += [ev.BenchmarkCompleted(result=b) for b in doc.benchmarks]
    events.append(ev.RunFinished(status=status, finished_at=doc.finished_at, error=doc.error))
    return events


def start_run(cmd: m.StartRun, run_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _new(history, "run", run_id)
    return [ev.RunStarted(info=cmd.info)]


def record_benchmark(cmd: m.RecordBenchmark, run_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _need(history, "run", run_id)
    if _run_finished(history):
        raise Rejected("conflict", f"run {run_id} has already finished")
    return [ev.BenchmarkCompleted(result=cmd.result)]


def record_run_progress(cmd: m.RecordRunProgress, run_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _need(history, "run", run_id)
    if _run_finished(history):
        raise Rejected("conflict", f"run {run_id} has already finished")
    return [cmd.event]


def finish_run(cmd: m.FinishRun, run_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _need(history, "run", run_id)
    if _run_finished(history):
        raise Rejected("conflict", f"run {run_id} has already finished")
    if cmd.status not in FINAL_STATUSES:
        raise Rejected("invalid", f"status must be one of {sorted(FINAL_STATUSES)}, not {cmd.status!r}")
    return [ev.RunFinished(status=cmd.status, finished_at=cmd.finished_at, error=cmd.error)]


# --- tests -------------------------------------------------------------------------------------------


def _agent_arch(history: Sequence[ev.Event]) -> str | None:
    registered = _last(history, ev.AgentRegistered)
    hardware = registered.hardware if isinstance(registered, ev.AgentRegistered) else None
    return hardware.arch if hardware else None


def request_test(
    cmd: m.RequestTest, test_id: str, history: Sequence[ev.Event], agent: Sequence[ev.Event] = ()
) -> list[ev.Event]:
    """The rules for a test, in one place whoever asks (CLI, API, UI, a client on NATS): a model and a
    known engine, a runtime the engine has, an agent that exists and is not revoked, and an engine with a
    build for the agent's platform (unless forced). `agent` is the named agent's history."""
    _new(history, "test", test_id)
    spec = cmd.spec
    if not spec.model.strip() or not spec.engine.strip():
        raise Rejected("invalid", "a test needs a model and an engine")
    try:
        engine = specs.get(spec.engine)
    except specs.UnknownEngine as exc:
        raise Rejected("invalid", str(exc)) from None
    if spec.runtime not in engine.runtimes:
        raise Rejected(
            "invalid", f"{engine.display} runs on {', '.join(engine.runtimes)}, not {spec.runtime!r}"
        )
    if cmd.agent is not None:
        if not agent:
            raise Rejected("not_found", f"unknown agent {cmd.agent!r} (see `kitt agents list`)")
        if isinstance(_last(agent, ev.AgentRevoked, ev.AgentProvisioned), ev.AgentRevoked):
            raise Rejected("conflict", f"agent {cmd.agent} has been revoked")
        arch = _agent_arch(agent)
        if arch and arch not in engine.archs and not spec.force:
            raise Rejected(
                "invalid",
                f"{engine.display} has no build for {cmd.agent}'s platform ({arch}; it runs on "
                f'{", ".join(engine.archs)}); force it (--force, or "force": true) to send it anyway',
            )
    spec = msgspec.structs.replace(spec, engine=engine.name)
    return [ev.TestRequested(spec=spec, agent=cmd.agent, campaign_id=cmd.campaign_id)]


def cancel_test(cmd: m.CancelTest, test_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _need(history, "test", test_id)
    finished = _last(history, ev.TestFinished)
    if finished is not None:
        raise Rejected("conflict", f"test {test_id} has already finished ({finished.status})")
    return [ev.TestCancelRequested(reason=cmd.reason)]


# --- agents ------------------------------------------------------------------------------------------


def _live_agent(history: Sequence[ev.Event], agent_id: str) -> None:
    _need(history, "agent", agent_id)
    if isinstance(_last(history, ev.AgentRevoked, ev.AgentProvisioned), ev.AgentRevoked):
        raise Rejected("conflict", f"agent {agent_id} has been revoked")


def provision_agent(cmd: m.ProvisionAgent, agent_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    last = _last(history, ev.AgentProvisioned, ev.AgentRevoked)
    if last is not None and not isinstance(last, ev.AgentRevoked):
        raise Rejected("conflict", f"agent {agent_id} is already provisioned: rotate its token instead")
    return [ev.AgentProvisioned(name=cmd.name, token_hash=cmd.token_hash)]


def rotate_agent_token(cmd: m.RotateAgentToken, agent_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _live_agent(history, agent_id)
    return [ev.AgentTokenRotated(token_hash=cmd.token_hash)]


def revoke_agent(cmd: m.RevokeAgent, agent_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _live_agent(history, agent_id)
    return [ev.AgentRevoked(reason=cmd.reason)]


def register_agent(cmd: m.RegisterAgent, agent_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _live_agent(history, agent_id)
    return [
        ev.AgentRegistered(
            name=cmd.name,
            hardware=cmd.hardware,
            engines=cmd.engines,
            kitt_version=cmd.kitt_version,
            capacity=cmd.capacity,
            simulated=cmd.simulated,
        )
    ]


def _text(value: ev.Scalar) -> str | None:
    return value if isinstance(value, str) else None


def staging_layout_problem(model_dir: str | None, nfs_mount: str | None) -> str | None:
    """Why a model folder and share mount cannot be used together (models are copied from the share into
    the folder and the copies deleted after), or None. The agent checks the same on resolved paths."""
    if not model_dir or not nfs_mount:
        return None
    folder, mount = PurePosixPath(os.path.normpath(model_dir)), PurePosixPath(os.path.normpath(nfs_mount))
    if folder == PurePosixPath("/") or mount == PurePosixPath("/"):
        return "model_dir and nfs_mount cannot be / (copies there would be deleted after each test)"
    if folder == mount:
        return "model_dir and nfs_mount cannot be the same folder"
    if folder.is_relative_to(mount):
        return f"model_dir {model_dir} cannot be inside the share mounted at {nfs_mount}"
    return None


AGENT_SETTINGS: dict[str, tuple[type, ...]] = {
    "model_dir": (str,),
    "nfs_mount": (str,),  # where that share is mounted on the agent
    "cleanup_models": (bool,),  # remove a copied model once its test is done
    "heartbeat_s": (int, float),
}


def change_agent_settings(
    cmd: m.ChangeAgentSettings, agent_id: str, history: Sequence[ev.Event]
) -> list[ev.Event]:
    _live_agent(history, agent_id)
    for key, value in cmd.settings.items():
        kinds = AGENT_SETTINGS.get(key)
        if kinds is None:
            raise Rejected(
                "invalid", f"unknown agent setting {key!r}; known: {', '.join(sorted(AGENT_SETTINGS))}"
            )
        if value is not None and (not isinstance(value, kinds) or (bool in kinds) != isinstance(value, bool)):
            raise Rejected("invalid", f"agent setting {key} must be {' or '.join(k.__name__ for k in kinds)}")
        if key == "heartbeat_s" and value is not None and not 0.5 <= float(value) <= 600:
            raise Rejected("invalid", "heartbeat_s must be between 0.5 and 600 seconds")
    current: dict[str, ev.Scalar] = {}
    for event in history:
        if isinstance(event, ev.AgentSettingsChanged):
            current = dict(event.settings)
    merged = {**current, **cmd.settings}
    problem = staging_layout_problem(_text(merged.get("model_dir")), _text(merged.get("nfs_mount")))
    if problem is not None:
        raise Rejected("invalid", problem)
    # The event carries the whole set, so the read model and the agent never need the earlier ones.
    return [ev.AgentSettingsChanged(settings=merged)] if merged != current else []


def refuse_report(cmd: m.RefuseReport, agent_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    return [
        ev.ReportRefused(
            subject=cmd.subject,
            stream_seq=cmd.stream_seq,
            reason=cmd.reason,
            size=cmd.size,
            sha256=cmd.sha256,
        )
    ]


def dispatch_test(cmd: m.DispatchTest, agent_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    if not history:
        raise Rejected("not_found", f"unknown agent {agent_id!r} (see `kitt agents list`)")
    _live_agent(history, agent_id)
    return [ev.DispatchRequested(test_id=cmd.test_id, spec=cmd.spec)]


def cancel_dispatch(cmd: m.CancelDispatch, agent_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _need(history, "agent", agent_id)
    queued = any(isinstance(e, ev.DispatchRequested) and e.test_id == cmd.test_id for e in history)
    if not queued:
        raise Rejected("not_found", f"agent {agent_id} was never sent test {cmd.test_id}")
    return [ev.DispatchCancelled(test_id=cmd.test_id, reason=cmd.reason)]


def _open_test(history: Sequence[ev.Event], test_id: str) -> None:
    _need(history, "test", test_id)
    finished = _last(history, ev.TestFinished)
    if finished is not None:
        raise Rejected("conflict", f"test {test_id} has already finished ({finished.status})")


def mark_test_dispatched(
    cmd: m.MarkTestDispatched, test_id: str, history: Sequence[ev.Event]
) -> list[ev.Event]:
    _open_test(history, test_id)
    return [ev.TestDispatched(agent=cmd.agent)]


def _assigned(history: Sequence[ev.Event]) -> str | None:
    dispatched = _last(history, ev.TestDispatched)
    return dispatched.agent if dispatched is not None else None


def start_test(cmd: m.StartTest, test_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _open_test(history, test_id)
    if _assigned(history) != cmd.agent:
        raise Rejected("forbidden", f"test {test_id} is not assigned to agent {cmd.agent}")
    if _last(history, ev.TestStarted) is not None:
        raise Rejected("conflict", f"test {test_id} has already started")
    return [ev.TestStarted(agent=cmd.agent, run_id=cmd.run_id, simulated=cmd.simulated)]


def finish_test(cmd: m.FinishTest, test_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    _open_test(history, test_id)
    if cmd.status not in FINAL_STATUSES:
        raise Rejected("invalid", f"status must be one of {sorted(FINAL_STATUSES)}, not {cmd.status!r}")
    started = _last(history, ev.TestStarted)
    if cmd.run_id is not None and (started is None or started.run_id != cmd.run_id):
        raise Rejected("conflict", f"run {cmd.run_id} is not the run of test {test_id}")
    return [ev.TestFinished(status=cmd.status, run_id=cmd.run_id, error=cmd.error, skipped=cmd.skipped)]


# --- settings, engine profiles, schedules ------------------------------------------------------------


def change_setting(cmd: m.ChangeSetting, key: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    last = _last(history, ev.SettingChanged)
    if last is not None and last.value == cmd.value:
        return []  # already so: nothing to record
    return [ev.SettingChanged(key=key, value=cmd.value)]


# Principals' own names: the admin, the owner of KITT_HOME (kitt/auth/localtoken.py), agents.
RESERVED_USER_NAMES = frozenset({"admin", "anonymous", "agent", "local"})


def issue_user_token(cmd: m.IssueUserToken, name: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,63}", name) or name in RESERVED_USER_NAMES:
        raise Rejected(
            "invalid",
            f"user name {name!r}: lowercase letters, digits, '.', '_', '-' (not admin, agent or local)",
        )
    if cmd.role not in states.ROLES:
        raise Rejected("invalid", f"role must be one of {', '.join(states.ROLES)}, not {cmd.role!r}")
    return [ev.UserTokenIssued(token_hash=cmd.token_hash, role=cmd.role)]


def revoke_user_token(cmd: m.RevokeUserToken, name: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    if not isinstance(_last(history, ev.UserTokenIssued, ev.UserTokenRevoked), ev.UserTokenIssued):
        raise Rejected("not_found", f"user {name!r} has no live token")
    return [ev.UserTokenRevoked(reason=cmd.reason)]


def end_session(cmd: m.EndSession, session_id: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    if history:
        return []  # already logged out: nothing more to record
    return [ev.SessionEnded(user=cmd.user, expires_at=cmd.expires_at)]


def save_engine_profile(cmd: m.SaveEngineProfile, name: str, history: Sequence[ev.Event]) -> list[ev.Event]:
    try:
        profile_env.check(cmd.env)
    except profile_env.RefusedVariable as exc:
        raise Rejected("invalid", str(exc)) from None
    return [ev.EngineProfileSaved(engine=cmd.engine, args=cmd.args, env=cmd.env, description=cmd.description)]


def delete_engine_profile(
    cmd: m.DeleteEngineProfile, name: str, history: Sequence[ev.Event]
) -> list[ev.Event]:
    if not isinstance(_last(history, ev.EngineProfileSaved, ev.EngineProfileDeleted), ev.EngineProfileSaved):
        raise Rejected("not_found", f"engine profile {name!r} does not exist")
    return [ev.EngineProfileDeleted()]
