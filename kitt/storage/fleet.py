"""Agents and tests as their projections hold them, and agents' presence from the HB stream."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import nats.js.errors
from nats.aio.client import Client
from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.events import streams, subjects
from kitt.events.results import Hardware
from kitt.projections.models import AgentRow, DeadLetter, TestRow, table

_agents = table(AgentRow)
_tests = table(TestRow)


class Agent(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    status: str  # provisioned | registered | revoked
    online: bool = False
    last_seen: datetime | None = None
    running: tuple[str, ...] = ()
    hardware: Hardware | None = None
    engines: tuple[str, ...] = ()
    capacity: int = 1
    simulated: bool = False
    kitt_version: str | None = None
    settings: dict[str, str | int | float | bool | None] = {}


class Test(msgspec.Struct, frozen=True, kw_only=True):
    test_id: str
    agent: str | None
    model: str
    engine: str
    suite: str
    runtime: str
    status: str
    run_id: str | None = None
    error: str | None = None
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    campaign_id: str | None = None
    simulated: bool = False  # run by a test agent: nothing in it was measured


class _Beat(msgspec.Struct):
    running: tuple[str, ...] = ()


def _agent(row: Row[Any]) -> Agent:
    hardware = row.hardware
    return Agent(
        name=row.name,
        status=row.status,
        hardware=msgspec.json.decode(hardware, type=Hardware) if hardware else None,
        engines=tuple(json.loads(row.engines)),
        capacity=row.capacity,
        simulated=row.simulated,
        kitt_version=row.kitt_version,
        settings=json.loads(row.settings or "{}"),
    )


async def presence(nc: Client, agent: Agent) -> Agent:
    """Online when the HB stream still holds a heartbeat (it expires them after its TTL)."""
    try:
        msg = await nc.jetstream().get_last_msg(streams.HB, subjects.heartbeat(agent.name), direct=True)
    except (nats.js.errors.NotFoundError, nats.errors.TimeoutError):
        return agent
    seen = msg.time
    stamp = (msg.headers or {}).get("Nats-Time-Stamp")
    if seen is None and stamp:
        seen = datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00") if "." in stamp else None
    seen = seen.astimezone(UTC) if seen else None
    try:
        running = msgspec.json.decode(msg.data or b"{}", type=_Beat).running
    except msgspec.DecodeError:  # an agent may publish anything on its own subject: it is online, no more
        running = ()
    return msgspec.structs.replace(agent, online=True, last_seen=seen, running=running)


async def agents(db: AsyncEngine) -> list[Agent]:
    async with db.connect() as conn:
        return [_agent(r) for r in await conn.execute(select(_agents).order_by(_agents.c.name))]


async def agent(db: AsyncEngine, name: str) -> Agent | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(_agents).where(_agents.c.agent_id == name))).first()
    return _agent(row) if row else None


def _test(row: object) -> Test:
    fields = {f: getattr(row, f) for f in Test.__struct_fields__}
    return Test(**fields)


ACTIVE = ("requested", "dispatched", "running", "cancelling")


async def tests(
    db: AsyncEngine, *, agent_name: str | None = None, statuses: Sequence[str] = (), limit: int = 50
) -> list[Test]:
    query = select(_tests).order_by(_tests.c.requested_at.desc()).limit(limit)
    if agent_name:
        query = query.where(_tests.c.agent == agent_name)
    if statuses:
        query = query.where(_tests.c.status.in_(statuses))
    async with db.connect() as conn:
        return [_test(r) for r in await conn.execute(query)]


async def test(db: AsyncEngine, test_id: str) -> Test | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(_tests).where(_tests.c.test_id == test_id))).first()
    return _test(row) if row else None


async def finished_since(db: AsyncEngine, since: datetime) -> dict[str, int]:
    """Tests that finished since `since`, by final status: the fleet's throughput."""
    query = (
        select(_tests.c.status, func.count()).where(_tests.c.finished_at >= since).group_by(_tests.c.status)
    )
    async with db.connect() as conn:
        return {status: count for status, count in await conn.execute(query)}


async def count_by_status(db: AsyncEngine) -> dict[str, int]:
    async with db.connect() as conn:
        rows = await conn.execute(select(_tests.c.status, func.count()).group_by(_tests.c.status))
        return {status: count for status, count in rows}


async def agent_for_token_hash(db: AsyncEngine, token_hash: str | None) -> str | None:
    """The agent whose live token has this SHA-256 (not revoked, not rotated away); None otherwise."""
    if not token_hash:
        return None
    query = select(_agents.c.agent_id).where(
        _agents.c.token_hash == token_hash, _agents.c.status != "revoked"
    )
    async with db.connect() as conn:
        return (await conn.execute(query)).scalar()


async def refused_reports(db: AsyncEngine) -> list[tuple[str, str]]:
    """(subject, reason) of every agent report the ingestor refused, oldest first."""
    dead = table(DeadLetter)
    query = select(dead.c.subject, dead.c.reason).where(dead.c.projection == "ingestor").order_by(dead.c.id)
    async with db.connect() as conn:
        return [(r.subject, r.reason) for r in await conn.execute(query)]
