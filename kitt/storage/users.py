"""Per-user API tokens: `kuser_` + 43 base64url characters (256 random bits); only the SHA-256 is stored."""

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.events.states import Role
from kitt.projections.models import EndedSessionRow, UserRow, table

PREFIX = "kuser_"
_FORMAT = re.compile(r"^kuser_[A-Za-z0-9_-]{43}$")
_users = table(UserRow)
_ended = table(EndedSessionRow)


def new() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def owner(db: AsyncEngine, token: str) -> tuple[str, Role] | None:
    """(user, role) of the live token, or None (a malformed token is looked up no further)."""
    if not _FORMAT.match(token):
        return None
    async with db.connect() as conn:
        query = select(_users.c.name, _users.c.role).where(_users.c.token_hash == digest(token))
        row = (await conn.execute(query)).first()
    return (row.name, row.role) if row else None


async def live_token(db: AsyncEngine, name: str) -> tuple[str, Role] | None:
    """(token hash, role) of the user's live token: a session opened with another token no longer counts."""
    async with db.connect() as conn:
        query = select(_users.c.token_hash, _users.c.role).where(_users.c.name == name)
        row = (await conn.execute(query)).first()
    return (row.token_hash, row.role) if row else None


async def session_ended(db: AsyncEngine, session_id: str) -> bool:
    async with db.connect() as conn:
        query = select(_ended.c.session_id).where(_ended.c.session_id == session_id)
        return (await conn.execute(query)).first() is not None


async def names(db: AsyncEngine) -> list[tuple[str, str, Role]]:
    """(name, issued at ISO, role) of every user with a live token."""
    async with db.connect() as conn:
        query = select(_users.c.name, _users.c.issued_at, _users.c.role).order_by(_users.c.name)
        rows = await conn.execute(query)
        return [(r.name, r.issued_at.isoformat(timespec="seconds"), r.role) for r in rows]
