"""Settings as the `settings` projection holds them (saved with `kitt settings set` or the UI).

A saved setting takes priority over the environment variable of the same meaning; the known keys are listed
here with the variable each one overrides, so the CLI and the UI agree on them.
"""

import json

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.projections.models import SettingRow, table

Scalar = str | int | float | bool | None
KNOWN: dict[str, str] = {
    "datasets_dir": "KITT_DATASETS_DIR",
    "trusted_tasks_dir": "KITT_TRUSTED_TASKS_DIR",
    "model_dir": "KITT_MODEL_DIR",
    "devon_url": "DEVON_URL",
    "devon_api_key": "DEVON_API_KEY",
    "devon_tab_visible": "",
}
_settings = table(SettingRow)


async def all_settings(db: AsyncEngine) -> dict[str, Scalar]:
    async with db.connect() as conn:
        rows = await conn.execute(select(_settings.c.key, _settings.c.value).order_by(_settings.c.key))
        return {row.key: json.loads(row.value) for row in rows}


async def get(db: AsyncEngine, key: str) -> Scalar:
    async with db.connect() as conn:
        value = (await conn.execute(select(_settings.c.value).where(_settings.c.key == key))).scalar()
    return json.loads(value) if value is not None else None


async def text(db: AsyncEngine, key: str) -> str | None:
    """A setting as text, or None when unset or empty (so the environment variable applies)."""
    value = await get(db, key)
    return str(value) if value not in (None, "") else None
