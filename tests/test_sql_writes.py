"""The projectors' fast write paths (driver executemany, PostgreSQL COPY and unnest) on both databases."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from kitt.projections import sql
from kitt.projections.karr import _Run, _run_row
from kitt.projections.models import BenchmarkRow, MetricRow, RunRow
from tests.factories import document

_runs = RunRow.__table__


class _Rollback(Exception):
    pass


async def _count(engine, table) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_fast_writes_are_part_of_the_batch_transaction(engine):
    """A batch that fails after writing leaves nothing behind: a COPY as the first statement of a
    transaction must not commit on its own (a kill -9 then loses the children of a committed run)."""
    run = _run_row(_Run(document("atomic"), 1))
    with pytest.raises(_Rollback):
        async with engine.begin() as conn:
            await sql.insert_new(conn, _runs, [run])  # the first statement of the transaction
            await sql.insert_new(conn, MetricRow.__table__, [("atomic", 0, 0, "ttft", 1.0, "ms", None, "{}")])
            raise _Rollback
    assert await _count(engine, _runs) == 0
    assert await _count(engine, MetricRow.__table__) == 0


async def test_fast_writes_read_back_as_sqlalchemy_wrote_them(engine):
    """Rows written past SQLAlchemy (dates formatted by hand on SQLite) read back as the ORM would."""
    doc = document("roundtrip")
    async with engine.begin() as conn:
        await sql.insert_new(conn, _runs, [_run_row(_Run(doc, 4))])
        await sql.insert_new(
            conn,
            BenchmarkRow.__table__,
            [
                (
                    "roundtrip",
                    0,
                    "throughput",
                    "performance",
                    None,
                    "succeeded",
                    None,
                    doc.info.started_at,
                    None,
                    2,
                )
            ],
        )
    async with engine.connect() as conn:
        row = (await conn.execute(select(RunRow))).one()
        bench = (await conn.execute(select(BenchmarkRow))).one()
    started = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=UTC)
    assert started == doc.info.started_at == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert (row.status, row.benchmark_count, row.simulated, row.last_event_seq) == ("succeeded", 2, False, 4)
    assert bench.started_at.replace(tzinfo=UTC) == doc.info.started_at and bench.finished_at is None


async def test_an_upsert_only_moves_a_row_forward(engine):
    doc = document("guarded")
    async with engine.begin() as conn:
        await sql.upsert_fast(conn, _runs, [_run_row(_Run(doc, 10))], key=("run_id",))
    older = _run_row(_Run(doc.__class__(run_id="guarded", info=doc.info, status="failed"), 5))
    async with engine.begin() as conn:
        await sql.upsert_fast(conn, _runs, [older], key=("run_id",))
    async with engine.connect() as conn:
        assert (await conn.execute(select(RunRow.status, RunRow.last_event_seq))).one() == ("succeeded", 10)


async def test_a_row_of_the_wrong_width_is_refused(engine):
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match="karr_metrics rows have 8 values, not 2"):
            await sql.insert_new(conn, MetricRow.__table__, [("x", 0)])
