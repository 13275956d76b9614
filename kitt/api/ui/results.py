"""Pages over KARR: the dashboard, the results list, a run, and a comparison of runs."""

import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta

import msgspec
from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import Parameter
from litestar.response import Response, Template
from markupsafe import Markup

from kitt.api.context import ApiContext
from kitt.api.routes.runs import documents, page_of_runs
from kitt.api.runfilter import provide_run_filter
from kitt.api.ui.page import page
from kitt.bench.recordstore import RecordsError
from kitt.charts import figures
from kitt.storage import compare, fleet, queries, records

PER_PAGE = (25, 50, 100)


class ResultsPages(Controller):
    include_in_schema = False

    @get("/")
    async def dashboard(self, request: Request, kitt: ApiContext) -> Template:
        recent = await queries.page_runs(kitt.db, queries.RunFilter(limit=10))
        agents = [await fleet.presence(kitt.nc, a) for a in await fleet.agents(kitt.db)]
        active = await fleet.tests(kitt.db, statuses=fleet.ACTIVE, limit=20)
        now = datetime.now(UTC)
        last_hour = await fleet.finished_since(kitt.db, now - timedelta(hours=1))
        last_day = await fleet.finished_since(kitt.db, now - timedelta(days=1))
        return await page(
            request,
            "dashboard.html",
            runs=recent.runs,
            total_runs=recent.total,
            agents=agents,
            online=sum(1 for a in agents if a.online),
            active=active,
            last_hour=sum(last_hour.values()),
            last_day=last_day,
        )

    @get("/runs", dependencies={"flt": Provide(provide_run_filter)})
    async def runs(
        self,
        request: Request,
        kitt: ApiContext,
        flt: queries.RunFilter,
        per_page: int = Parameter(default=25, ge=1, le=500),
        page_no: int = Parameter(query="page", default=1, ge=1, le=1_000_000),
    ) -> Template:
        flt = dataclasses.replace(flt, limit=per_page, offset=(page_no - 1) * per_page)
        found = await page_of_runs(request, kitt, flt)
        query = {k: v for k, v in request.query_params.items() if k != "page" and v}
        return await page(
            request,
            "runs.html",
            found=found,
            query=query,
            page_no=page_no,
            pages=max(1, -(-found.total // per_page)),
            sorts=queries.SORTS,
            per_page_choices=PER_PAGE,
        )

    @get("/runs/{run_id:str}")
    async def run(self, request: Request, kitt: ApiContext, run_id: str) -> Template:
        found = await documents(request, kitt, [run_id])
        if not found:
            raise NotFoundException(detail=f"no run {run_id!r}")
        doc = found[0]

        async def draw() -> tuple[Markup | None, list[Markup]]:
            # The same charts as `kitt report` (the CDF from stored percentiles: no records read here; the
            # per-second telemetry is read, a row a second, or left out while the stream cannot give it).
            extra = [figures.latency_vs_load([doc]), figures.cdf_from_percentiles(doc)]
            charts = [c for c in extra if c is not None] + figures.engine_vs_load([doc])
            for result in doc.benchmarks:
                with contextlib.suppress(RecordsError):
                    charts += figures.over_time(result.name, await records.telemetry_of(kitt.nc, result))
            charts += figures.latency_distributions(doc)
            return figures.throughput([doc]), charts

        throughput, latencies = await request.app.state.cache.get("karr", ("charts", run_id), draw)
        return await page(request, "run.html", doc=doc, throughput=throughput, latencies=latencies)

    @get("/runs/{run_id:str}/document.json")
    async def download(self, kitt: ApiContext, run_id: str) -> Response[bytes]:
        """The whole document as `kitt storage export` writes it: the records read into it."""
        found = await queries.documents(kitt.db, [run_id])
        if not found:
            raise NotFoundException(detail=f"no run {run_id!r}")
        try:
            whole = await records.inlined(kitt.nc, found[0])
        except RecordsError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        return Response(
            content=msgspec.json.format(msgspec.json.encode(whole), indent=2),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{run_id}.json"'},
        )

    @get("/compare")
    async def compare_runs(
        self,
        request: Request,
        kitt: ApiContext,
        run: list[str] | None = None,
        noise: float = Parameter(default=compare.DEFAULT_NOISE_PCT, ge=0, le=100),
    ) -> Template:
        chosen = list(dict.fromkeys(run or []))
        comparison = None
        problem = None
        if len(chosen) >= 2:
            docs = {d.run_id: d for d in await queries.documents(kitt.db, chosen)}
            missing = [r for r in chosen if r not in docs]
            if missing:
                raise NotFoundException(detail=f"no run {missing[0]!r}")
            chosen.sort(key=lambda r: docs[r].info.started_at)  # the oldest run is the baseline
            comparison = compare.compare([docs[r] for r in chosen], noise)
        else:
            problem = "Pick two or more runs on the results page, then press Compare."
        return await page(
            request,
            "compare.html",
            comparison=comparison,
            problem=problem,
            chart=figures.comparison_bars(comparison) if comparison else None,
            throughput=figures.throughput([docs[r] for r in chosen], per_run=True) if comparison else None,
            trade_offs=[
                c
                for c in (
                    figures.pareto([docs[r] for r in chosen]) if comparison else None,
                    figures.latency_vs_load([docs[r] for r in chosen]) if comparison else None,
                )
                if c is not None
            ],
            noise=noise,
        )
