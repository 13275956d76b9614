"""Agents and tests read models. Low volume: events are applied one by one inside the batch transaction."""

from collections.abc import Sequence

import msgspec
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

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
from kitt.projections.models import AgentRow, TestRow

_agents = AgentRow.__table__
_tests = TestRow.__table__
_json = msgspec.json.Encoder()


def _text(value: object) -> str:
    return _json.encode(value).decode()


class AgentsProjection:
    name = "agents"
    subjects = ("ev.agent.>",)
    tables = (_agents,)

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        rejected: list[tuple[StoredEvent, str]] = []
        for stored in events:
            env = stored.envelope
            event = env.event
            at = env.occurred_at
            if isinstance(event, AgentProvisioned):
                row = {
                    "agent_id": env.aggregate_id,
                    "name": event.name,
                    "status": "provisioned",
                    "token_hash": event.token_hash,
                    "engines": "[]",
                    "capacity": 1,
                    "simulated": False,
                    "settings": "{}",
                    "created_at": at,
                    "updated_at": at,
                    "last_event_seq": stored.seq,
                }
                await sql.upsert(conn, _agents, [row], key=("agent_id",))
                continue
            if isinstance(event, AgentRegistered):
                values = {
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
                continue  # dispatch_requested: the tests projection tracks the test itself
            applied = await sql.guarded_update(
                conn, _agents, "agent_id", env.aggregate_id, stored.seq, {**values, "updated_at": at}
            )
            if not applied and not await _seen(conn, _agents, "agent_id", env.aggregate_id):
                rejected.append(
                    (stored, f"{env.type} for agent {env.aggregate_id}, which was never provisioned")
                )
        return rejected


class TestsProjection:
    __test__ = False  # not a pytest class
    name = "tests"
    subjects = ("ev.test.>",)
    tables = (_tests,)

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        rejected: list[tuple[StoredEvent, str]] = []
        for stored in events:
            env = stored.envelope
            event = env.event
            at = env.occurred_at
            if isinstance(event, TestRequested):
                row = {
                    "test_id": env.aggregate_id,
                    "agent": event.agent,
                    "campaign_id": event.campaign_id,
                    "model": event.spec.model,
                    "engine": event.spec.engine,
                    "suite": event.spec.suite,
                    "runtime": event.spec.runtime,
                    "status": "requested",
                    "requested_at": at,
                    "last_event_seq": stored.seq,
                }
                await sql.upsert(conn, _tests, [row], key=("test_id",))
                continue
            if isinstance(event, TestDispatched):
                values: sql.Row = {"status": "dispatched", "agent": event.agent, "dispatched_at": at}
            elif isinstance(event, TestStarted):
                values = {"status": "running", "agent": event.agent, "run_id": event.run_id, "started_at": at}
            elif isinstance(event, TestFinished):
                values = {"status": event.status, "error": event.error, "finished_at": at}
                if event.run_id:
                    values = {**values, "run_id": event.run_id}
            elif isinstance(event, TestCancelRequested):
                values = {"status": "cancelling"}
            else:
                continue
            applied = await sql.guarded_update(conn, _tests, "test_id", env.aggregate_id, stored.seq, values)
            if not applied and not await _seen(conn, _tests, "test_id", env.aggregate_id):
                rejected.append(
                    (stored, f"{env.type} for test {env.aggregate_id}, which was never requested")
                )
        return rejected


async def _seen(conn: AsyncConnection, table: Table, key: str, value: str) -> bool:
    return (await conn.execute(select(table.c[key]).where(table.c[key] == value))).first() is not None
