"""Runs in KARR: the filtered list, and a run's full result document."""

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from kitt.api.context import ApiContext
from kitt.events.results import ResultDocument
from kitt.storage import queries


class RunsController(Controller):
    path = "/api/v1/runs"

    @get("/")
    async def list_runs(
        self,
        kitt: ApiContext,
        model: str | None = None,
        engine: str | None = None,
        status: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=1000),
    ) -> list[queries.RunSummary]:
        flt = queries.RunFilter(model=model, engine=engine, status=status, limit=limit)
        return await queries.list_runs(kitt.db, flt)

    @get("/{run_id:str}")
    async def get_run(self, kitt: ApiContext, run_id: str) -> ResultDocument:
        found = await queries.documents(kitt.db, [run_id])
        if not found:
            raise NotFoundException(detail=f"no run {run_id!r}")
        return found[0]
