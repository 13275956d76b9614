"""The results list's filter and order, as query parameters: one dependency the API and the UI share
(each adds its own paging)."""

from datetime import UTC, date, datetime, timedelta

from litestar.exceptions import ClientException
from litestar.params import Parameter

from kitt.storage import queries


def parse_day(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise ClientException(detail=f"{name} must be a date like 2026-11-30, not {value!r}") from None


async def provide_run_filter(
    model: str | None = Parameter(default=None, description="a part of the model's name"),
    engine: str | None = None,
    suite: str | None = None,
    agent: str | None = None,
    status: str | None = None,
    invalid: bool = Parameter(
        default=False, description="only runs with a level the self-check marked invalid"
    ),
    since: str | None = Parameter(default=None, description="first day, YYYY-MM-DD"),
    until: str | None = Parameter(default=None, description="last day (inclusive), YYYY-MM-DD"),
    sort: str = Parameter(default="started_at", description=f"one of {', '.join(queries.SORTS)}"),
    order: str = Parameter(default="desc", description="asc or desc"),
) -> queries.RunFilter:
    if sort not in queries.SORTS:
        raise ClientException(detail=f"sort must be one of {', '.join(queries.SORTS)}, not {sort!r}")
    if order not in ("asc", "desc"):
        raise ClientException(detail=f"order must be asc or desc, not {order!r}")
    end = parse_day(until, "until")
    return queries.RunFilter(
        model=model or None,
        engine=engine or None,
        suite=suite or None,
        agent=agent or None,
        status=status or None,
        invalid=invalid,
        since=parse_day(since, "since"),
        until=end + timedelta(days=1) if end else None,  # `until` is inclusive: the whole day
        sort=sort,
        descending=order == "desc",
    )
