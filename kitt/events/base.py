"""The base of every event: frozen, tagged by `type`, strict about unknown fields."""

from typing import ClassVar

import msgspec

Scalar = str | int | float | bool | None


class Event(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", forbid_unknown_fields=True, gc=False
):
    aggregate: ClassVar[str]
    version: ClassVar[int] = 1
