"""Named engine profiles (extra launch args and environment), read from their projection."""

import json

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.projections.models import EngineProfileRow

_profiles = EngineProfileRow.__table__


class ProfileError(ValueError):
    pass


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    engine: str
    args: tuple[str, ...]
    env: dict[str, str]
    description: str = ""


def _row(row: object) -> Profile:
    return Profile(
        name=row.name,  # type: ignore[attr-defined]
        engine=row.engine,  # type: ignore[attr-defined]
        args=tuple(json.loads(row.args)),  # type: ignore[attr-defined]
        env=json.loads(row.env),  # type: ignore[attr-defined]
        description=row.description,  # type: ignore[attr-defined]
    )


async def list_profiles(db: AsyncEngine) -> list[Profile]:
    async with db.connect() as conn:
        rows = await conn.execute(select(_profiles).order_by(_profiles.c.name))
        return [_row(r) for r in rows]


async def get(db: AsyncEngine, name: str, engine: str) -> Profile:
    async with db.connect() as conn:
        row = (await conn.execute(select(_profiles).where(_profiles.c.name == name))).first()
    if row is None:
        raise ProfileError(f"no engine profile {name!r} (see `kitt engines profiles list`)")
    profile = _row(row)
    if profile.engine != engine:
        raise ProfileError(f"engine profile {name!r} is for {profile.engine}, not {engine}")
    return profile
