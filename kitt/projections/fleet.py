"""Agents and tests read models."""

import msgspec

from kitt.events.envelope import StoredEvent
from kitt.events.types import (
    AgentProvisioned,
    AgentRegistered,
    AgentRevoked,
    AgentSettingsChanged,
    AgentTokenRotated,
    TestCancelRequested,
    TestDispatched,
    TestFinished,
    TestRequested,
    TestStarted,
)
from kitt.projections import sql
from kitt.projections.keyed import KeyedProjection
from kitt.projections.models import AgentRow, TestRow

_json = msgspec.json.Encoder()


def _text(value: object) -> str:
    return _json.encode(value).decode()


class AgentsProjection(KeyedProjection):
    name = "agents"
    subjects = ("ev.agent.>",)
    table = AgentRow.__table__
    key = "agent_id"
    noun = "agent"

    def created(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        if not isinstance(event, AgentProvisioned):
            return None
        at = stored.envelope.occurred_at
        return {
            "name": event.name,
            "status": "provisioned",
            "token_hash": event.token_hash,
            "engines": "[]",
            "capacity": 1,
            "simulated": False,
            "settings": "{}",
            "created_at": at,
            "updated_at": at,
        }

    def changed(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        if isinstance(event, AgentRegistered):
            values: sql.Row = {
                "name": event.name,
                "status": "registered",
                "hardware": _text(event.hardware) if event.hardware else None,
                "engines": _text(event.engines),
                "kitt_version": event.kitt_version,
                "capacity": event.capacity,
                "simulated": event.simulated,
            }
        elif isinstance(event, AgentTokenRotated):
            values = {"token_hash": event.token_hash}
        elif isinstance(event, AgentRevoked):
            values = {"status": "revoked", "token_hash": None}
        elif isinstance(event, AgentSettingsChanged):
            values = {"settings": _text(event.settings)}
        else:
            return None  # dispatch_requested: the tests read model tracks the test itself
        return {**values, "updated_at": stored.envelope.occurred_at}


class TestsProjection(KeyedProjection):
    __test__ = False  # not a pytest class
    name = "tests"
    subjects = ("ev.test.>",)
    table = TestRow.__table__
    key = "test_id"
    noun = "test"

    def created(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        if not isinstance(event, TestRequested):
            return None
        return {
            "agent": event.agent,
            "campaign_id": event.campaign_id,
            "model": event.spec.model,
            "engine": event.spec.engine,
            "suite": event.spec.suite,
            "runtime": event.spec.runtime,
            "status": "requested",
            "requested_at": stored.envelope.occurred_at,
        }

    def changed(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        at = stored.envelope.occurred_at
        if isinstance(event, TestDispatched):
            return {"status": "dispatched", "agent": event.agent, "dispatched_at": at}
        if isinstance(event, TestStarted):
            return {"status": "running", "agent": event.agent, "run_id": event.run_id, "started_at": at}
        if isinstance(event, TestFinished):
            values: sql.Row = {"status": event.status, "error": event.error, "finished_at": at}
            return {**values, "run_id": event.run_id} if event.run_id else values
        if isinstance(event, TestCancelRequested):
            return {"status": "cancelling"}
        return None
