"""Alembic environment. KITT runs migrations in-process on its own async engine (kitt.projections.migrate);
the `alembic` command line works too, with KITT_DATABASE_URL (or sqlalchemy.url) set."""

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from kitt.projections.db import create_engine
from kitt.projections.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = os.environ.get("KITT_DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set KITT_DATABASE_URL (or sqlalchemy.url) to run alembic directly")
    asyncio.run(_run_async(url))
