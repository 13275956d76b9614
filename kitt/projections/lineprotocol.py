"""InfluxDB's line protocol: `measurement,tag=v field=1.5 1700000000000000000`, escaped as its spec says.

Measurements escape commas and spaces; tag keys, tag values and field keys escape commas, equals signs and
spaces; string field values are double-quoted with quotes and backslashes escaped. Empty tag values are
not allowed, so they are left out. A newline cannot be escaped anywhere and becomes a space.
"""

from collections.abc import Mapping

FieldValue = float | int | bool | str


def _escape(text: str, special: str) -> str:
    text = text.replace("\\", "\\\\").replace("\n", " ")
    for char in special:
        text = text.replace(char, "\\" + char)
    return text


def _field(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], at_ns: int) -> str:
    """One point. Tags are sorted by key (what InfluxDB recommends for write speed); at least one field."""
    if not fields:
        raise ValueError(f"a point of {measurement!r} needs at least one field")
    head = _escape(measurement, ", ")
    tag_text = "".join(
        f",{_escape(k, ',= ')}={_escape(v, ',= ')}" for k, v in sorted(tags.items()) if k and v
    )
    field_text = ",".join(f"{_escape(k, ',= ')}={_field(v)}" for k, v in fields.items())
    return f"{head}{tag_text} {field_text} {at_ns}"
