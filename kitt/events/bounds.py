"""Bounded field types: what a read model's column holds, checked when a message is decoded.

A value no column can hold (an integer past 64 bits, a string longer than its column or with a NUL, which
PostgreSQL refuses) must be refused where it enters — an agent's report, a command — with an error that
names the field, not discovered by a projector that cannot write it. The lengths are the columns'
(`kitt/projections/models/`).
"""

from typing import Annotated

import msgspec

_NO_NUL = "^[^\x00]*$"  # PostgreSQL's text types cannot hold U+0000


INT64_MAX = 2**63 - 1

Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_NO_NUL)]  # ids: run, test, report
Short = Annotated[str, msgspec.Meta(max_length=64, pattern=_NO_NUL)]  # engine names, versions
Name = Annotated[str, msgspec.Meta(max_length=128, pattern=_NO_NUL)]  # suites, benchmarks, fingerprints
Label = Annotated[str, msgspec.Meta(max_length=256, pattern=_NO_NUL)]  # metric names, label values
Location = Annotated[str, msgspec.Meta(max_length=512, pattern=_NO_NUL)]  # models, images, endpoints
Unit = Annotated[str, msgspec.Meta(max_length=32, pattern=_NO_NUL)]
Percentile = Annotated[str, msgspec.Meta(max_length=16, pattern=_NO_NUL)]
Text = Annotated[str, msgspec.Meta(max_length=64 * 1024, pattern=_NO_NUL)]  # errors, free text

Count = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]  # sizes, counts, memory: a BIGINT column
Index = Annotated[int, msgspec.Meta(ge=0, le=4096)]  # a GPU's index
Capacity = Annotated[int, msgspec.Meta(ge=1, le=64)]  # tests an agent runs at once (`kitt-agent --capacity`)
Version = Annotated[int, msgspec.Meta(ge=1, le=1000)]  # a message's schema version
Seconds = Annotated[float, msgspec.Meta(ge=0, le=1e9)]


def unstorable(message: msgspec.Struct) -> str | None:
    """Why no read model could store this message (a NUL character, an integer past 64 bits), or None.

    The check for messages whose fields are not all bounded types: the command handler refuses these."""
    if b"\\u0000" in msgspec.json.encode(message):
        return "text with a NUL character (\\0) is not accepted"
    pending: list[object] = [msgspec.to_builtins(message)]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, int) and not -INT64_MAX - 1 <= value <= INT64_MAX:
            return f"an integer out of the 64-bit range ({str(value)[:30]}) is not accepted"
    return None
