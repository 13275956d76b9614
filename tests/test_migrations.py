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


async def test_a_database_with_results_upgrades_without_losing_them(database_url):
    """0005 rebuilds karr_benchmarks on SQLite (to drop its foreign key): the rows come through."""
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine, "0003")
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO karr_runs (run_id, model, engine, simulated, status, started_at,"
                " benchmark_count, document, last_event_seq) VALUES ('r1', 'm', 'llama_cpp', false,"
                " 'succeeded', '2026-11-01 12:00:00', 1, '{}', 4)"
            )
            await conn.exec_driver_sql(
                "INSERT INTO karr_benchmarks (run_id, position, name, kind, status, sample_count)"
                " VALUES ('r1', 0, 'throughput', 'performance', 'succeeded', 2)"
            )
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            query = "SELECT run_id, name, sample_count FROM karr_benchmarks"
            rows = (await conn.exec_driver_sql(query)).all()
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        assert [tuple(r) for r in rows] == [("r1", "throughput", 2)] and diff == []
    finally:
        await engine.dispose()
