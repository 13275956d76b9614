"""The results list's query parameters, as the API and the UI both take them."""

from datetime import UTC, date, datetime, timedelta

from litestar.exceptions import ClientException

from kitt.storage import queries


def parse_day(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise ClientException(detail=f"{name} must be a date like 2026-11-30, not {value!r}") from None


def run_filter(
    *,
    model: str | None,
    engine: str | None,
    suite: str | None,
    agent: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    sort: str,
    order: str,
    limit: int,
    offset: int,
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
        since=parse_day(since, "since"),
        until=end + timedelta(days=1) if end else None,  # `until` is inclusive: the whole day
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=offset,
    )
