"""`/metrics` in Prometheus' text format: projection lag, events appended and applied, agents online,
tests and runs by status, the latest headline figures per model x engine, and the API's own request and
command latencies (what the Grafana dashboards of `kitt monitoring` plot).

The gauges are read fresh at each scrape (JetStream's stream state, the checkpoints, the read models); the
latency histogram is fed by a middleware. Each app has its own registry, so several apps in one process
(the tests) do not collide.
"""

import time

from litestar import Request, get
from litestar.response import Response
from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest

from kitt.api.context import ApiContext
from kitt.events import streams
from kitt.projections import admin
from kitt.projections.registry import all_projections
from kitt.storage import fleet, headlines


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.lag = Gauge(
            "kitt_projection_lag_events", "Events after a projection's checkpoint", ["projection"], registry=r
        )
        self.applied = Gauge(
            "kitt_projection_checkpoint",
            "Last EVENTS sequence a projection applied",
            ["projection"],
            registry=r,
        )
        self.dead = Gauge(
            "kitt_projection_dead_letters",
            "Messages a projection could not apply",
            ["projection"],
            registry=r,
        )
        self.appended = Gauge(
            "kitt_stream_last_sequence", "Messages appended to a stream, all time", ["stream"], registry=r
        )
        self.held = Gauge("kitt_stream_messages", "Messages a stream holds now", ["stream"], registry=r)
        self.online = Gauge("kitt_agents_online", "Agents with a live heartbeat", registry=r)
        self.agents = Gauge("kitt_agents", "Agents by status", ["status"], registry=r)
        self.tests = Gauge("kitt_tests", "Tests by status", ["status"], registry=r)
        self.runs = Gauge("kitt_runs", "KARR runs by status", ["status"], registry=r)
        self.headline = Gauge(
            "kitt_latest_figure",
            "A headline figure of the latest succeeded run per model and engine",
            ["model", "engine", "figure", "simulated"],
            registry=r,
        )
        self.commands = Histogram(
            "kitt_command_duration_seconds",
            "Commands the API sent, from request to the handler's reply",
            ["command", "outcome"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.latency = Histogram(
            "kitt_http_request_duration_seconds",
            "API and UI request latency",
            ["method", "route", "status"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    async def refresh(self, kitt: ApiContext) -> None:
        for s in await admin.status(kitt.nc, kitt.db, all_projections(kitt.influxdb)):
            self.lag.labels(s.name).set(s.lag)
            self.applied.labels(s.name).set(s.last_seq)
            self.dead.labels(s.name).set(s.dead_letters)
        js = kitt.nc.jetstream()
        for name in (
            streams.EVENTS,
            streams.LOGS,
            streams.METRICS,
            streams.HB,
            streams.DISPATCH,
            streams.AGENT_IN,
        ):
            info = await js.stream_info(name)
            self.appended.labels(name).set(info.state.last_seq)
            self.held.labels(name).set(info.state.messages)
        agents = [await fleet.presence(kitt.nc, a) for a in await fleet.agents(kitt.db)]
        self.online.set(sum(1 for a in agents if a.online))
        self.agents.clear()
        for status in {a.status for a in agents}:
            self.agents.labels(status).set(sum(1 for a in agents if a.status == status))
        self.tests.clear()
        for status, count in (await fleet.count_by_status(kitt.db)).items():
            self.tests.labels(status).set(count)
        self.runs.clear()
        for status, count in (await headlines.runs_by_status(kitt.db)).items():
            self.runs.labels(status).set(count)
        self.headline.clear()
        for latest in await headlines.latest(kitt.db):
            for figure, value in latest.figures.items():
                simulated = "true" if latest.simulated else "false"
                self.headline.labels(latest.model, latest.engine, figure, simulated).set(value)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = {"code": 500}

            async def sending(message) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await app(scope, receive, sending)
            finally:
                route = scope.get("path_template") or "unmatched"  # the route, not the concrete path
                self.latency.labels(scope.get("method", "?"), route, str(status["code"])).observe(
                    time.perf_counter() - started
                )

        return timed


@get("/metrics", include_in_schema=False)
async def metrics(request: Request, kitt: ApiContext) -> Response[bytes]:
    collected: ApiMetrics = request.app.state.metrics
    await collected.refresh(kitt)
    return Response(generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST)
