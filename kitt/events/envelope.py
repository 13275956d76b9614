"""The envelope: who did what to which aggregate, when, and why (causation/correlation)."""

from datetime import UTC, datetime
from typing import cast

import msgspec

from kitt.events.ids import uuid7
from kitt.events.types import AnyEvent, Event, type_name


class Envelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    event_id: str
    type: str
    version: int
    aggregate: str
    aggregate_id: str
    occurred_at: datetime
    actor: str = "system"
    causation_id: str | None = None
    correlation_id: str | None = None
    event: AnyEvent


def wrap(
    event: Event,
    aggregate_id: str,
    *,
    actor: str = "system",
    causation_id: str | None = None,
    correlation_id: str | None = None,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    return Envelope(
        event_id=event_id or uuid7(),
        type=type_name(event),
        version=type(event).version,
        aggregate=type(event).aggregate,
        aggregate_id=aggregate_id,
        occurred_at=occurred_at or datetime.now(UTC),
        actor=actor,
        causation_id=causation_id,
        correlation_id=correlation_id,
        event=cast(AnyEvent, event),  # every Event subclass is a member of the union
    )


class StoredEvent(msgspec.Struct, frozen=True, gc=False):
    """An envelope as read back from the EVENTS stream: its stream sequence is its position."""

    seq: int
    subject: str
    envelope: Envelope
