"""Runs in KARR: the filtered, sorted, paginated list; a run's full result document; comparisons."""

import dataclasses

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Parameter

from kitt.api.context import ApiContext
from kitt.api.readcache import ReadCache
from kitt.api.runfilter import provide_run_filter
from kitt.events.results import ResultDocument
from kitt.storage import compare, queries

MAX_OFFSET = 1_000_000_000


async def page_of_runs(request: Request, kitt: ApiContext, flt: queries.RunFilter) -> queries.RunPage:
    cache: ReadCache = request.app.state.cache
    matching = dataclasses.replace(flt, sort="", descending=True, limit=0, offset=0)  # every page's count
    total = await cache.get("karr", ("count", matching), lambda: queries.count_runs(kitt.db, flt))
    return await cache.get("karr", ("page", flt), lambda: queries.page_runs(kitt.db, flt, total=total))


async def documents(request: Request, kitt: ApiContext, run_ids: list[str]) -> list[ResultDocument]:
    cache: ReadCache = request.app.state.cache
    return await cache.get("karr", ("docs", tuple(run_ids)), lambda: queries.documents(kitt.db, run_ids))


RUN_IDS = Parameter(description="two or more run ids; the first is the baseline")


class RunsController(Controller):
    path = "/api/v1/runs"

    @get("/", dependencies={"flt": Provide(provide_run_filter)})
    async def list_runs(
        self,
        request: Request,
        kitt: ApiContext,
        flt: queries.RunFilter,
        limit: int = Parameter(default=50, ge=1, le=1000),
        offset: int = Parameter(default=0, ge=0, le=MAX_OFFSET),
    ) -> Response[list[queries.RunSummary]]:
        """Runs, newest first by default; `X-Total-Count` says how many match the filter in all."""
        flt = dataclasses.replace(flt, limit=limit, offset=offset)
        found = await page_of_runs(request, kitt, flt)
        return Response(found.runs, headers={"X-Total-Count": str(found.total)})

    @get("/compare")
    async def compare_runs(
        self,
        kitt: ApiContext,
        run: list[str] = RUN_IDS,
        noise: float = Parameter(default=compare.DEFAULT_NOISE_PCT, ge=0, le=100),
    ) -> compare.Comparison:
        chosen = list(dict.fromkeys(run))
        if len(chosen) < 2:
            raise ClientException(detail="a comparison needs two or more distinct runs (?run=A&run=B)")
        docs = {d.run_id: d for d in await queries.documents(kitt.db, chosen)}
        missing = [r for r in chosen if r not in docs]
        if missing:
            raise NotFoundException(detail=f"no run {missing[0]!r}")
        return compare.compare([docs[r] for r in chosen], noise)

    @get("/{run_id:str}")
    async def get_run(self, request: Request, kitt: ApiContext, run_id: str) -> ResultDocument:
        found = await documents(request, kitt, [run_id])
        if not found:
            raise NotFoundException(detail=f"no run {run_id!r}")
        return found[0]
