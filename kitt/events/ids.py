"""Identifiers: UUIDv7 for events and new aggregates (time-ordered, so indexes stay append-mostly)."""

import os
import time
import uuid

_NAMESPACE = uuid.UUID("6f0c9a52-3c1e-4c55-9d0b-6b1f5b0b7a11")


def uuid7() -> str:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def derived_id(*parts: str) -> str:
    """A deterministic id, so a retried command names the same aggregate it created the first time."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))
