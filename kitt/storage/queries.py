"""Read-side queries over KARR (the UI and CLI read here; only the projector writes)."""

from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.events import validity
from kitt.events.results import ResultDocument
from kitt.projections.models import MetricRow, RunRow, table

_runs = table(RunRow)
_doc = msgspec.json.Decoder(ResultDocument)


class RunSummary(msgspec.Struct, frozen=True):
    run_id: str
    model: str
    engine: str
    suite: str | None
    agent: str | None
    status: str
    simulated: bool
    started_at: datetime
    duration_s: float | None
    benchmark_count: int
    invalid_levels: int  # levels the client's self-check marked invalid (kitt.events.validity)

    @property
    def status_text(self) -> str:
        """`succeeded`, or `succeeded, 1 level invalid`: what every list shows."""
        return validity.status_text(self.status, self.invalid_levels)


SORTS = ("started_at", "model", "engine", "suite", "agent", "status", "duration_s")


@dataclass(frozen=True, kw_only=True)
class RunFilter:
    model: str | None = None  # a substring
    engine: str | None = None
    suite: str | None = None
    agent: str | None = None
    status: str | None = None
    invalid: bool = False  # only runs with a level the self-check marked invalid
    since: datetime | None = None
    until: datetime | None = None
    sort: str = "started_at"  # one of SORTS
    descending: bool = True
    limit: int = 50
    offset: int = 0


class RunPage(msgspec.Struct, frozen=True):
    total: int
    offset: int
    limit: int
    runs: list[RunSummary]


def _where(query, flt: RunFilter):
    if flt.model:
        query = query.where(_runs.c.model.contains(flt.model, autoescape=True))
    for column in ("engine", "suite", "agent", "status"):
        value = getattr(flt, column)
        if value:
            query = query.where(_runs.c[column] == value)
    if flt.invalid:
        query = query.where(_runs.c.invalid_levels > 0)
    if flt.since:
        query = query.where(_runs.c.started_at >= flt.since)
    if flt.until:
        query = query.where(_runs.c.started_at < flt.until)
    return query


async def list_runs(engine: AsyncEngine, flt: RunFilter = RunFilter()) -> list[RunSummary]:
    return (await page_runs(engine, flt)).runs


async def count_runs(engine: AsyncEngine, flt: RunFilter = RunFilter()) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(_where(select(func.count()).select_from(_runs), flt))).scalar_one()


async def page_runs(
    engine: AsyncEngine, flt: RunFilter = RunFilter(), *, total: int | None = None
) -> RunPage:
    """A page of runs, with how many match in all (`total`, when the caller already knows it)."""
    if flt.sort not in SORTS:
        raise ValueError(f"cannot sort by {flt.sort!r}; choose one of {', '.join(SORTS)}")
    cols = [_runs.c[f] for f in RunSummary.__struct_fields__]
    key = _runs.c[flt.sort]
    # ties broken by id in the same direction, so an index on (key, run_id) serves the order as it is
    order = [key.desc(), _runs.c.run_id.desc()] if flt.descending else [key.asc(), _runs.c.run_id.asc()]
    # A deferred join: the page's ids come from an index alone (skipping `offset` entries there is cheap),
    # then only those rows are read; reading every skipped row would cost a table lookup each.
    page = _where(select(_runs.c.run_id), flt).order_by(*order).limit(flt.limit).offset(flt.offset)
    query = select(*cols).where(_runs.c.run_id.in_(page.scalar_subquery())).order_by(*order)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    if total is None:
        total = await count_runs(engine, flt)
    return RunPage(total=total, offset=flt.offset, limit=flt.limit, runs=[RunSummary(*row) for row in rows])


async def documents(engine: AsyncEngine, run_ids: list[str] | None = None) -> list[ResultDocument]:
    query = select(_runs.c.document).order_by(_runs.c.started_at, _runs.c.run_id)
    if run_ids is not None:
        query = query.where(_runs.c.run_id.in_(run_ids))
    async with engine.connect() as conn:
        return [_doc.decode(row[0]) for row in await conn.execute(query)]


class Stats(msgspec.Struct, frozen=True):
    runs: int
    metrics: int
    by_engine: dict[str, int]
    by_status: dict[str, int]
    models: int
    first_run: datetime | None
    last_run: datetime | None


async def stats(engine: AsyncEngine) -> Stats:
    async with engine.connect() as conn:
        runs, models, first, last = (
            await conn.execute(
                select(
                    func.count(),
                    func.count(_runs.c.model.distinct()),
                    func.min(_runs.c.started_at),
                    func.max(_runs.c.started_at),
                )
            )
        ).one()
        metrics = (await conn.execute(select(func.count()).select_from(MetricRow))).scalar_one()
        engines = await conn.execute(select(_runs.c.engine, func.count()).group_by(_runs.c.engine))
        by_engine: dict[str, int] = {str(engine): int(count) for engine, count in engines.all()}
        statuses = await conn.execute(select(_runs.c.status, func.count()).group_by(_runs.c.status))
        by_status: dict[str, int] = {str(status): int(count) for status, count in statuses.all()}
    return Stats(runs, metrics, by_engine, by_status, models, first, last)
