"""Tagged-union helpers shared by events and commands."""

from typing import Any


def registry(union: Any) -> dict[str, type]:
    """{tag: class} for every member of a msgspec tagged union."""
    return {cls.__struct_config__.tag: cls for cls in union.__args__}


def tag_of(value: object) -> str:
    return type(value).__struct_config__.tag  # type: ignore[attr-defined]
