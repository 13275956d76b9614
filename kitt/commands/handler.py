"""Executes a command: load the aggregate, decide, append with optimistic concurrency; retry conflicts."""

from typing import Any

import structlog

from kitt.commands import decide
from kitt.commands.messages import Command, CommandReply
from kitt.commands.routing import ROUTES, Route
from kitt.events import bounds, subjects
from kitt.events.bus import AppendConflict, AppendError, EventBus
from kitt.events.envelope import wrap
from kitt.events.types import Event

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 5


async def _related(bus: EventBus, command: Command, route: Route[Any]) -> list[list[Event]]:
    """The history of the other aggregate this command's rules read, if any (the decider's 4th
    argument)."""
    if route.related is None:
        return []
    aggregate, target = route.related
    other = target(command)
    if other is None:
        return [[]]
    try:
        subjects.token(other, aggregate)
    except subjects.InvalidSubjectToken as exc:
        raise decide.Rejected("invalid", str(exc)) from None
    stored, _ = await bus.load(aggregate, other)
    return [[s.envelope.event for s in stored]]


async def execute(bus: EventBus, command: Command) -> CommandReply:
    route = ROUTES.get(type(command))
    if route is None:
        return CommandReply(ok=False, code="invalid", error=f"no handler for {type(command).__name__}")
    aggregate = route.aggregate
    unstorable = bounds.unstorable(command)
    if unstorable is not None:  # refused here, before it could poison a projection
        return CommandReply(ok=False, code="invalid", error=unstorable)
    try:
        aggregate_id = subjects.token(route.target(command), f"{aggregate} id")
    except subjects.InvalidSubjectToken as exc:
        return CommandReply(ok=False, code="invalid", error=str(exc))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        history, version = await bus.load(aggregate, aggregate_id)
        if any(s.envelope.causation_id == command.command_id for s in history):
            # Already applied (a retried command after its reply was lost): answer as before.
            return CommandReply(ok=True, ids=(aggregate_id,), seq=version, duplicate=True)
        try:
            related = await _related(bus, command, route)
            events = route.decider(command, aggregate_id, [s.envelope.event for s in history], *related)
        except decide.Rejected as exc:
            return CommandReply(ok=False, code=exc.code, error=str(exc))
        if not events:
            return CommandReply(ok=True, ids=(aggregate_id,), seq=version)
        envelopes = [
            wrap(e, aggregate_id, actor=command.actor, causation_id=command.command_id) for e in events
        ]
        try:
            result = await bus.append(envelopes, msg_id=command.command_id, expected_seq=version)
        except AppendConflict as exc:
            log.info(
                "append conflict, retrying",
                aggregate=aggregate,
                id=aggregate_id,
                attempt=attempt,
                why=str(exc),
            )
            continue
        except AppendError as exc:
            return CommandReply(ok=False, code="invalid" if exc.refused else "internal", error=str(exc))
        return CommandReply(ok=True, ids=(aggregate_id,), seq=result.seq, duplicate=result.duplicate)
    return CommandReply(
        ok=False,
        code="conflict",
        error=f"{aggregate} {aggregate_id} kept changing: gave up after {MAX_ATTEMPTS} tries",
    )
