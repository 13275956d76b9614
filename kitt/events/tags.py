"""Tagged-union helpers shared by events and commands."""

from functools import cache
from typing import Any

import msgspec


def registry(union: Any) -> dict[str, type]:
    """{tag: class} for every member of a msgspec tagged union."""
    return {cls.__struct_config__.tag: cls for cls in union.__args__}


def tag_of(value: msgspec.Struct) -> str:
    return _tag(type(value))


@cache
def _tag(cls: type[msgspec.Struct]) -> str:
    # `__struct_config__` builds a new config object on every access (~10 µs): read it once per class.
    return str(cls.__struct_config__.tag)
