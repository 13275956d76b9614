"""Agents and tests read models."""

from collections.abc import Sequence

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from kitt.events import subjects as subject_names
from kitt.events.envelope import StoredEvent
from kitt.events.types import (
    AgentProvisioned,
    AgentRegistered,
    AgentRevoked,
    AgentSettingsChanged,
    AgentTokenRotated,
    ReportRefused,
    TestCancelRequested,
    TestDispatched,
    TestFinished,
    TestRequested,
    TestStarted,
)
from kitt.projections import sql
from kitt.projections.keyed import KeyedProjection
from kitt.projections.models import AgentRow, DeadLetter, TestRow, table

INGESTOR = "ingestor"  # the dead letters' owner: refused reports

_json = msgspec.json.Encoder()


def _text(value: object) -> str:
    return _json.encode(value).decode()


class AgentsProjection(KeyedProjection):
    """Agents; and the reports the ingestor refused, as dead letters under `ingestor` (their positions are
    AGENT_IN's, so they keep a name of their own), written once however often the refusal is replayed."""

    name = "agents"
    subjects = (subject_names.aggregate_type_filter("agent"),)
    table = table(AgentRow)
    key = "agent_id"
    noun = "agent"

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        refused = [
            {
                "projection": INGESTOR,
                "stream_seq": e.envelope.event.stream_seq,
                "subject": e.envelope.event.subject,
                "reason": e.envelope.event.reason,
                "payload": _kept(e.envelope.event),
                "recorded_at": e.envelope.occurred_at,
            }
            for e in events
            if isinstance(e.envelope.event, ReportRefused)
        ]
        await sql.insert_missing(conn, table(DeadLetter), refused)
        return await super().apply(conn, events)

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
    subjects = (subject_names.aggregate_type_filter("test"),)
    table = table(TestRow)
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
            "simulated": False,
        }

    def changed(self, stored: StoredEvent) -> sql.Row | None:
        event = stored.envelope.event
        at = stored.envelope.occurred_at
        if isinstance(event, TestDispatched):
            return {"status": "dispatched", "agent": event.agent, "dispatched_at": at}
        if isinstance(event, TestStarted):
            started = {"status": "running", "agent": event.agent, "run_id": event.run_id, "started_at": at}
            return {**started, "simulated": event.simulated}
        if isinstance(event, TestFinished):
            values: sql.Row = {"status": event.status, "error": event.error, "finished_at": at}
            return {**values, "run_id": event.run_id} if event.run_id else values
        if isinstance(event, TestCancelRequested):
            return {"status": "cancelling"}
        return None


def _kept(refused: ReportRefused) -> str:
    """What the dead letter shows of a refused report: its size and digest (older refusals kept the text)."""
    return refused.payload or f"({refused.size} bytes, sha256 {refused.sha256}; the report is not kept)"
