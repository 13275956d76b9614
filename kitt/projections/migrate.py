"""Apply the Alembic history to a database, in-process, on KITT's own async engine."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def script_location() -> Path:
    package = Path(__file__).resolve().parent.parent
    installed = package / "_migrations"  # where the wheel puts migrations/
    return installed if installed.is_dir() else package.parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


MIGRATION_LOCK = 0x4B495454  # "KITT": PostgreSQL advisory lock that serialises concurrent upgrades


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade to REVISION. On PostgreSQL the upgrade holds an advisory lock for its transaction, so
    processes starting together (`kitt serve` and `kitt project` in a stack) migrate one after the other
    (the second finds the work done) instead of racing to create the same tables."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await connection.run_sync(lambda sync: command.upgrade(_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(_config(sync), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
