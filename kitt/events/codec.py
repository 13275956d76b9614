"""Encoding and decoding of envelopes, with upcasting of old event versions on read.

One reused decoder validates and dispatches every type. Old versions are never rewritten in the stream:
an upcaster lifts the raw payload to the current shape before it is typed.
"""

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from kitt.events.envelope import Envelope
from kitt.events.subjects import HEADER_TYPE, HEADER_VERSION
from kitt.events.tags import tag_of
from kitt.events.types import EVENT_TYPES

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Envelope)

# (type, from_version) -> function lifting that payload one version up. Raw dicts live only in here.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    # Before roles every user token was an admin's.
    ("user_token_issued", 1): lambda payload: {**payload, "role": "admin"},
    # Version 1 named a campaign to fire again; nothing issued it. Lifted to an empty template, which the
    # scheduler reports as failing to plan at every slot rather than skipping silently.
    ("schedule_created", 1): lambda payload: {
        "name": payload.get("name", ""),
        "cron": payload.get("cron", ""),
        "campaign_name": str(payload.get("campaign_id", "")),
        "template": {"models": [], "engines": []},
    },
}


class UnknownEventType(Exception):
    """A type this version of KITT does not know: skipped and counted, never fatal."""


class MalformedEvent(Exception):
    """A message that is not a valid event: recorded as a dead letter with this reason."""


def encode(envelope: Envelope) -> tuple[bytes, dict[str, str]]:
    headers = {HEADER_TYPE: envelope.type, HEADER_VERSION: str(envelope.version)}
    return _encoder.encode(envelope), headers


def decode(data: bytes, headers: Mapping[str, str] | None = None) -> Envelope:
    """Decode one message; raise UnknownEventType or MalformedEvent with a precise reason.

    The typed decoder is tried first: a current, well-formed event needs nothing else. Anything it refuses
    (an old version, an unknown type, a broken payload) goes the slow way, which says exactly what is wrong.
    The headers, where a reader has them parsed, only let an unknown type skip decoding.
    """
    type_name = headers.get(HEADER_TYPE) if headers else None
    if type_name is not None and type_name not in EVENT_TYPES:
        raise UnknownEventType(type_name)
    try:
        envelope = _decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return _decode_slow(data)
    current = EVENT_TYPES.get(envelope.type)
    if current is None or envelope.version != current.version:
        return _decode_slow(data)
    return _consistent(envelope)


def _consistent(envelope: Envelope) -> Envelope:
    event_cls = type(envelope.event)
    if envelope.type != tag_of(envelope.event) or envelope.aggregate != event_cls.aggregate:
        raise MalformedEvent(
            f"envelope says {envelope.aggregate}/{envelope.type} but carries "
            f"{event_cls.aggregate}/{tag_of(envelope.event)}"
        )
    return envelope


def _decode_slow(data: bytes) -> Envelope:
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise MalformedEvent(f"not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise MalformedEvent("an event must be a JSON object")
    type_name = raw.get("type")
    if not isinstance(type_name, str):
        raise MalformedEvent("missing required field `type`")
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise UnknownEventType(type_name)
    version = raw.get("version")
    if not isinstance(version, int) or version < 1 or version > cls.version:
        raise MalformedEvent(f"{type_name}: unsupported version {version!r} (current is {cls.version})")
    payload = raw.get("event")
    if not isinstance(payload, dict):
        raise MalformedEvent(f"{type_name}: missing object field `event`")
    while version < cls.version:
        upcaster = UPCASTERS.get((type_name, version))
        if upcaster is None:
            raise MalformedEvent(f"{type_name}: no upcaster from version {version}")
        payload = upcaster(payload)
        version += 1
    raw["event"] = payload
    raw["version"] = version
    try:
        return _consistent(msgspec.convert(raw, Envelope))
    except msgspec.ValidationError as exc:
        raise MalformedEvent(f"invalid {type_name} event: {exc}") from None


def json_schema() -> dict[str, Any]:
    """JSON Schema of the envelope and every event type (`kitt events schema`)."""
    return msgspec.json.schema(Envelope)
