"""One Alembic history, both backends: an empty database upgrades to a schema equal to the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from kitt.projections import migrate
from kitt.projections.db import create_engine
from kitt.projections.models import Base


async def test_empty_database_upgrades_to_the_models(database_url):
    engine = create_engine(database_url)
    try:
        assert await migrate.current_revision(engine) is None
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert diff == []
        assert {t.name for t in Base.metadata.sorted_tables} <= tables
        await migrate.upgrade(engine)  # idempotent
        await migrate.downgrade(engine)
        async with engine.connect() as conn:
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert left <= {"alembic_version"}
    finally:
        await engine.dispose()
