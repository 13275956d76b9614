"""Benchmark figures into InfluxDB as they land in KARR: a projection whose read model is another system.

Every metric of a BenchmarkCompleted becomes a point of `kitt_metric` (tags: run_id, model, engine,
benchmark, metric, percentile, the metric's labels as label_*, agent, suite, simulated; fields: value,
unit), and each RunFinished a point of `kitt_run` (the same run tags and status; field: duration_s). The
run is a tag so that two runs' figures never share a series and timestamp (InfluxDB would keep one):
a series per run and figure, which is why the generated InfluxDB lifts the series limit (tsi1 index).
Points are written in line protocol to InfluxDB 1.x's `/write` inside the projector's transaction, before
its checkpoint commits.

Delivery is at least once, and that is enough: a point is keyed by its series and timestamp, and a replay
writes the same series at the same timestamp (the benchmark's own finish time), which InfluxDB overwrites
in place, so a crash between the write and the commit never doubles a figure. When InfluxDB is down the
write fails, the batch rolls back, and the runner retries with backoff: nothing is skipped.

The password travels in an Authorization header (never in the URL, never logged).
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
import msgspec
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kitt.events import subjects
from kitt.events.envelope import StoredEvent
from kitt.events.results import BenchmarkResult
from kitt.events.types import BenchmarkCompleted, RunFinished, RunStarted
from kitt.projections import sql
from kitt.projections.lineprotocol import FieldValue, line
from kitt.projections.models import InfluxRunRow, table

_runs = table(InfluxRunRow)
TIMEOUT_S = 10.0


class InfluxConfigError(ValueError):
    """KITT_INFLUXDB_* that cannot name an InfluxDB."""


class InfluxTarget(msgspec.Struct, frozen=True, kw_only=True):
    url: str  # http(s)://host:port, without user info
    database: str = "kitt"
    user: str | None = None
    password: str | None = None
    ca: str | None = None  # a CA bundle to verify an https InfluxDB with

    def __post_init__(self) -> None:
        scheme, _, rest = self.url.partition("://")
        if scheme not in ("http", "https") or not rest:
            raise InfluxConfigError(f"KITT_INFLUXDB_URL must be an http:// or https:// URL, not {self.url!r}")
        if "@" in rest.split("/")[0]:
            raise InfluxConfigError(
                "KITT_INFLUXDB_URL must not carry credentials: use KITT_INFLUXDB_USER/PASSWORD"
            )


class InfluxUnavailable(Exception):
    """InfluxDB did not take a batch: one line saying why (never the password)."""


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite hands timestamps back without a zone


def _ns(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000


class _Facts(msgspec.Struct, frozen=True):
    model: str
    engine: str
    agent: str | None
    suite: str | None
    simulated: bool
    started_at: datetime

    def tags(self, run_id: str) -> dict[str, str]:
        return {
            "run_id": run_id,  # a tag, so two runs' figures never share a series and timestamp
            "model": self.model,
            "engine": self.engine,
            "agent": self.agent or "",
            "suite": self.suite or "",
            "simulated": "true" if self.simulated else "false",
        }


def _metric_lines(run_id: str, facts: _Facts, result: BenchmarkResult, fallback: datetime) -> list[str]:
    at = _ns(result.finished_at or result.started_at or fallback)
    out = []
    for metric in result.metrics:
        if metric.value is None:
            continue
        reserved = {"benchmark": result.name, "metric": metric.name, "percentile": metric.percentile or ""}
        tags = {**{f"label_{k}": v for k, v in metric.labels.items()}, **facts.tags(run_id), **reserved}
        fields: dict[str, FieldValue] = {"value": float(metric.value), "unit": metric.unit}
        out.append(line("kitt_metric", tags, fields, at))
    return out


def _run_line(run_id: str, facts: _Facts, event: RunFinished) -> str:
    duration = (event.finished_at - facts.started_at).total_seconds()
    fields: dict[str, FieldValue] = {"duration_s": max(duration, 0.0)}
    return line("kitt_run", {**facts.tags(run_id), "status": event.status}, fields, _ns(event.finished_at))


class InfluxProjection:
    """Named `influxdb`; it runs only where KITT_INFLUXDB_URL is set (`kitt project`, `kitt up`)."""

    name = "influxdb"
    subjects = (subjects.aggregate_type_filter("run"),)

    def __init__(self, target: InfluxTarget) -> None:
        self.target = target
        self._http: httpx.AsyncClient | None = None  # made on the first write: status reads need none
        self._database_ready = False

    @property
    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            t = self.target
            auth = (t.user, t.password or "") if t.user else None
            self._http = httpx.AsyncClient(base_url=t.url, auth=auth, timeout=TIMEOUT_S, verify=t.ca or True)
        return self._http

    @property
    def tables(self) -> tuple[Table, ...]:
        return (_runs,)

    async def apply(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[tuple[StoredEvent, str]]:
        known = await self._facts(conn, events)
        lines: list[str] = []
        rejected: list[tuple[StoredEvent, str]] = []
        for stored in events:
            event, run_id = stored.envelope.event, stored.envelope.aggregate_id
            if isinstance(event, RunStarted):
                info = event.info
                known[run_id] = _Facts(
                    info.model, info.engine, info.agent, info.suite, info.simulated, info.started_at
                )
                row = {
                    **msgspec.structs.asdict(known[run_id]),
                    "run_id": run_id,
                    "last_event_seq": stored.seq,
                }
                await sql.upsert(conn, _runs, [row], key=("run_id",))
            elif isinstance(event, BenchmarkCompleted | RunFinished):
                facts = known.get(run_id)
                if facts is None:
                    rejected.append((stored, f"{stored.envelope.type} for run {run_id}, which never started"))
                elif isinstance(event, BenchmarkCompleted):
                    lines += _metric_lines(run_id, facts, event.result, stored.envelope.occurred_at)
                else:
                    lines.append(_run_line(run_id, facts, event))
        if lines:
            await self.write(lines)
        return rejected

    async def _facts(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> dict[str, _Facts]:
        wanted = {e.envelope.aggregate_id for e in events if not isinstance(e.envelope.event, RunStarted)}
        if not wanted:
            return {}
        rows = await conn.execute(select(_runs).where(_runs.c.run_id.in_(sorted(wanted))))
        return {
            r.run_id: _Facts(r.model, r.engine, r.agent, r.suite, r.simulated, _aware(r.started_at))
            for r in rows
        }

    async def write(self, lines: list[str]) -> None:
        body = ("\n".join(lines) + "\n").encode()
        params = {"db": self.target.database, "precision": "ns"}
        try:
            if not self._database_ready:
                await self._create_database()
            response = await self._client.post("/write", params=params, content=body)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.target.url} cannot be reached: {exc}") from None
        if response.status_code != 204:
            raise InfluxUnavailable(
                f"InfluxDB at {self.target.url} refused the write: {response.status_code} "
                f"{response.text.strip()[:200]}"
            )

    async def _create_database(self) -> None:
        # CREATE DATABASE is idempotent in InfluxDB 1.x; only an admin may, so a writer's 403 is no error.
        query = f'CREATE DATABASE "{self.target.database}"'
        response = await self._client.post("/query", data={"q": query})
        if response.status_code == 403:  # a writer, not an admin: the deployment made the database
            self._database_ready = True
            return
        if response.status_code != 200:
            raise InfluxUnavailable(
                f"InfluxDB at {self.target.url} refused {query}: {response.status_code} "
                f"{response.text.strip()[:200]}"
            )
        self._database_ready = True
