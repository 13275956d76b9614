"""Per-user API tokens: `kuser_` + 43 base64url characters (256 random bits); only the SHA-256 is stored."""

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.projections.models import UserRow

PREFIX = "kuser_"
_FORMAT = re.compile(r"^kuser_[A-Za-z0-9_-]{43}$")
_users = UserRow.__table__


def new() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def owner(db: AsyncEngine, token: str) -> str | None:
    """The user whose live token this is, or None (a malformed token is looked up no further)."""
    if not _FORMAT.match(token):
        return None
    async with db.connect() as conn:
        query = select(_users.c.name).where(_users.c.token_hash == digest(token))
        return (await conn.execute(query)).scalar()


async def tag(db: AsyncEngine, name: str) -> str | None:
    """The first 16 hex digits of the user's live token hash (what a session opened with it carries)."""
    async with db.connect() as conn:
        found = (await conn.execute(select(_users.c.token_hash).where(_users.c.name == name))).scalar()
    return found[:16] if found else None


async def names(db: AsyncEngine) -> list[tuple[str, str]]:
    """(name, issued at ISO) of every user with a live token."""
    async with db.connect() as conn:
        rows = await conn.execute(select(_users.c.name, _users.c.issued_at).order_by(_users.c.name))
        return [(r.name, r.issued_at.isoformat(timespec="seconds")) for r in rows]
