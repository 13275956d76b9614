"""Event structs and the codec: round trips, precise errors, upcasting."""

import msgspec
import pytest

from kitt.events import codec
from kitt.events.envelope import wrap
from kitt.events.types import EVENT_TYPES, SettingChanged
from tests.factories import document, run_events


def test_every_event_type_is_in_the_schema():
    schema = codec.json_schema()
    names = {d.get("properties", {}).get("type", {}).get("enum", [None])[0] for d in schema["$defs"].values()}
    assert set(EVENT_TYPES) <= names


def test_round_trip_keeps_nested_results():
    for envelope in run_events(document("r1")):
        data, headers = codec.encode(envelope)
        assert headers == {"Kitt-Event-Type": envelope.type, "Kitt-Event-Version": "1"}
        assert codec.decode(data, headers) == envelope


def test_unknown_type_is_reported_as_unknown_not_malformed():
    with pytest.raises(codec.UnknownEventType):
        codec.decode(b"{}", {"Kitt-Event-Type": "from_the_future", "Kitt-Event-Version": "1"})
    with pytest.raises(codec.UnknownEventType):
        codec.decode(b'{"type": "from_the_future", "version": 1, "event": {}}')


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[1, 2", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"version": 1}', "missing required field `type`"),
        (b'{"type": "setting_changed", "version": 9, "event": {}}', "unsupported version 9"),
    ],
)
def test_malformed_messages_say_why(payload, reason):
    with pytest.raises(codec.MalformedEvent, match=reason):
        codec.decode(payload)


def test_a_field_of_the_wrong_type_names_the_field():
    data, headers = codec.encode(wrap(SettingChanged(key="k", value=1), "k"))
    broken = data.replace(b'"key":"k"', b'"key":7')
    with pytest.raises(codec.MalformedEvent, match=r"\$\.event\.key"):
        codec.decode(broken, headers)


def test_envelope_that_lies_about_its_type_is_malformed():
    data, headers = codec.encode(wrap(SettingChanged(key="k", value=1), "k"))
    lying = data.replace(b'"type":"setting_changed","version"', b'"type":"agent_revoked","version"', 1)
    with pytest.raises(codec.MalformedEvent, match="envelope says"):
        codec.decode(lying, headers)


def test_old_versions_are_upcast_on_read(monkeypatch):
    """Version 1 of setting_changed called its field `name`; pretend the current version (2) renamed it."""
    monkeypatch.setattr(SettingChanged, "version", 2)
    monkeypatch.setitem(
        codec.UPCASTERS,
        ("setting_changed", 1),
        lambda p: {("key" if k == "name" else k): v for k, v in p.items()},
    )
    old = msgspec.json.encode(
        {
            "event_id": "e1",
            "type": "setting_changed",
            "version": 1,
            "aggregate": "setting",
            "aggregate_id": "model_dir",
            "occurred_at": "2026-01-01T00:00:00Z",
            "event": {"type": "setting_changed", "name": "model_dir", "value": "/models"},
        }
    )
    envelope = codec.decode(old, {"Kitt-Event-Type": "setting_changed", "Kitt-Event-Version": "1"})
    assert envelope.version == 2
    assert envelope.event == SettingChanged(key="model_dir", value="/models")
