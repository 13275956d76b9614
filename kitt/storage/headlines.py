"""Headline figures of runs, and the fleet-wide gauges built on them (`/metrics`).

A run's headline figures are its best output throughput, its worst TTFT p99 and its first accuracy score:
what the campaign rollups chart and what a dashboard plots per model x engine.
"""

import msgspec
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kitt.projections.models import MetricRow, RunRow, table

HEADLINES = (("output_throughput", None), ("ttft", "p99"), ("score", None))
_metrics = table(MetricRow)
_runs = table(RunRow)


class Latest(msgspec.Struct, frozen=True, kw_only=True):
    """The headline figures of the latest succeeded run of one model on one engine."""

    model: str
    engine: str
    run_id: str
    simulated: bool
    figures: dict[str, float]


async def figures(conn: AsyncConnection, run_ids: list[str]) -> dict[str, dict[str, float]]:
    """Each run's headline figures: the best output throughput, the worst TTFT p99, the first accuracy."""
    if not run_ids:
        return {}
    wanted = [
        and_(_metrics.c.name == name, _metrics.c.percentile == p)
        if p
        else and_(_metrics.c.name == name, _metrics.c.percentile.is_(None))
        for name, p in HEADLINES
    ]
    query = select(_metrics.c.run_id, _metrics.c.name, _metrics.c.percentile, _metrics.c.value).where(
        _metrics.c.run_id.in_(run_ids), or_(*wanted)
    )
    out: dict[str, dict[str, float]] = {}
    for run_id, name, percentile, value in await conn.execute(query):
        if value is None:
            continue
        key = f"{name}_{percentile}" if percentile else name
        found = out.setdefault(run_id, {})
        if key not in found:
            found[key] = value
        elif key in ("output_throughput", "ttft_p99"):
            found[key] = max(found[key], value)
    return out


async def runs_by_status(db: AsyncEngine) -> dict[str, int]:
    async with db.connect() as conn:
        rows = await conn.execute(select(_runs.c.status, func.count()).group_by(_runs.c.status))
        return {status: count for status, count in rows}


async def latest(db: AsyncEngine) -> list[Latest]:
    """Per model x engine, the latest succeeded run and its headline figures (one query each way; the
    (model, started_at) index keeps the grouping cheap at 100k runs)."""
    newest = (
        select(_runs.c.model, _runs.c.engine, func.max(_runs.c.started_at).label("at"))
        .where(_runs.c.status == "succeeded")
        .group_by(_runs.c.model, _runs.c.engine)
        .subquery()
    )
    query = select(_runs.c.model, _runs.c.engine, _runs.c.run_id, _runs.c.simulated).join(
        newest,
        and_(
            _runs.c.model == newest.c.model,
            _runs.c.engine == newest.c.engine,
            _runs.c.started_at == newest.c.at,
            _runs.c.status == "succeeded",
        ),
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query.order_by(_runs.c.model, _runs.c.engine, _runs.c.run_id))).all()
        found = await figures(conn, [r.run_id for r in rows])
    chosen: dict[tuple[str, str], Latest] = {}
    for r in rows:  # two runs started at the same instant: the last by id stands
        chosen[(r.model, r.engine)] = Latest(
            model=r.model,
            engine=r.engine,
            run_id=r.run_id,
            simulated=r.simulated,
            figures=found.get(r.run_id, {}),
        )
    return list(chosen.values())
