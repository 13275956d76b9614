"""The engine's own view of a benchmark level: its Prometheus metrics, scraped once a second.

Requests running and waiting, KV-cache usage, prefix-cache hits, tokens processed — what the client's
timings cannot see. Gauges are summarised by their mean and max over the level; counters by their rate
per second between scrapes (mean and max). A scrape that fails is counted and reported as a warning of
the result: the benchmark measured the engine all the same.
"""

import asyncio
import contextlib
import itertools
import time
from types import TracebackType

import msgspec
import structlog

from kitt.engines import httpconn, prometheus
from kitt.engines.runtime import Endpoint
from kitt.events.results import Metric

log = structlog.get_logger(__name__)

INTERVAL_S = 1.0
TIMEOUT_S = 0.8


class Scrape(msgspec.Struct, frozen=True):
    at: float  # seconds after the level's first scrape
    values: dict[str, float]  # KITT's names; counters as read (the rate is taken between scrapes)


class EngineWatch:
    """`async with EngineWatch(endpoint):` around a level; then `metrics(labels)` and `warning`."""

    def __init__(self, endpoint: Endpoint, *, interval_s: float = INTERVAL_S) -> None:
        self.endpoint = endpoint
        self.spec = endpoint.spec
        self.interval_s = interval_s
        self.scrapes: list[Scrape] = []
        self.failures = 0
        self.first_failure: str | None = None
        self._wanted = frozenset(s for m in self.spec.prometheus for s in m.sources)
        self._task: asyncio.Task[None] | None = None
        self._t0 = 0.0

    @property
    def enabled(self) -> bool:
        return self.spec.metrics_path is not None and bool(self.spec.prometheus)

    async def __aenter__(self) -> "EngineWatch":
        if self.enabled:
            self._t0 = time.perf_counter()
            await self.scrape()  # before the level's first request: its counters' baseline
            self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if kind is None:
            await self.scrape()  # the level's end: counters' last interval, gauges' last value

    async def _run(self) -> None:
        due = time.perf_counter()
        while True:  # on an absolute clock: a slow scrape does not shift the ones after it
            due += self.interval_s
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await self.scrape()

    async def scrape(self) -> None:
        path = self.spec.metrics_path
        assert path is not None
        try:
            response = await httpconn.fetch(
                self.endpoint.host, self.endpoint.port, "GET", path, timeout=TIMEOUT_S
            )
            if response.status != 200:
                raise prometheus.PrometheusError(f"HTTP {response.status}")
            found = prometheus.parse(response.body(), self._wanted)
        except TimeoutError:
            self._failed(f"no answer within {TIMEOUT_S:g} s")
            return
        except (httpconn.HttpError, OSError, prometheus.PrometheusError) as exc:
            self._failed(str(exc) or type(exc).__name__)
            return
        values = {m.name: v for m in self.spec.prometheus if (v := prometheus.pick(found, m)) is not None}
        self.scrapes.append(Scrape(at=time.perf_counter() - self._t0, values=values))

    def _failed(self, reason: str) -> None:
        self.failures += 1
        if self.first_failure is None:
            self.first_failure = reason
            log.warning("bench.engine_metrics_failed", url=self.endpoint.url, error=reason)

    @property
    def warning(self) -> str | None:
        if not self.enabled or not self.failures:
            return None
        tried = self.failures + len(self.scrapes)
        return (
            f"engine metrics: {self.failures} of {tried} scrapes of {self.spec.metrics_path} failed "
            f"(first: {self.first_failure})"
        )

    def series(self, name: str) -> list[tuple[float, float]]:
        """(seconds, value) for a gauge; (seconds, rate per second) between scrapes for a counter."""
        metric = next(m for m in self.spec.prometheus if m.name == name)
        points = [(s.at, s.values[name]) for s in self.scrapes if name in s.values]
        if metric.kind == "gauge":
            return points
        # A counter that went down was reset (the engine restarted): that interval has no rate.
        return [
            (t1, (v1 - v0) / (t1 - t0))
            for (t0, v0), (t1, v1) in itertools.pairwise(points)
            if t1 > t0 and v1 >= v0
        ]

    def metrics(self, labels: dict[str, str]) -> list[Metric]:
        out: list[Metric] = []
        for metric in self.spec.prometheus:
            values = [v for _, v in self.series(metric.name)]
            if not values:
                continue
            for stat, value in (("mean", sum(values) / len(values)), ("max", max(values))):
                out.append(
                    Metric(
                        name=f"engine_{metric.name}",
                        value=value,
                        unit=metric.unit,
                        labels={**labels, "stat": stat},
                    )
                )
        if self.enabled:
            out.append(Metric(name="engine_scrapes", value=len(self.scrapes), unit="scrapes", labels=labels))
        return out
