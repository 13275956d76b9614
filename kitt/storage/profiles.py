"""Named engine profiles (extra launch args and environment), read from their projection."""

import json
from typing import Any

import msgspec
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.projections.models import EngineProfileRow, table

_profiles = table(EngineProfileRow)


class ProfileError(ValueError):
    pass


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    engine: str
    args: tuple[str, ...]
    env: dict[str, str]
    description: str = ""


def _row(row: Row[Any]) -> Profile:
    return Profile(
        name=row.name,
        engine=row.engine,
        args=tuple(json.loads(row.args)),
        env=json.loads(row.env),
        description=row.description,
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
