"""Warm-up analysis: how long the engine took to serve, and how long until its latency settled."""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from kitt import stats
from kitt.bench.columns import RecordColumns
from kitt.engines import dialects, httpconn
from kitt.engines.runtime import Endpoint
from kitt.events.results import BenchmarkResult, Metric

WINDOW = 3  # requests in the rolling window that must sit near the steady latency
TOLERANCE = 0.25  # "near": within 25 % of the steady median


def stabilised_after(ttfts: Sequence[float]) -> int | None:
    """The index of the first request from which every rolling window stays near the steady median."""
    if len(ttfts) < 2 * WINDOW:
        return None
    steady = stats.median(ttfts[len(ttfts) // 2 :])
    far = [i for i, t in enumerate(ttfts) if abs(t - steady) > TOLERANCE * steady]
    start = far[-1] + 1 if far else 0  # every request from here on stays near
    return start if start <= len(ttfts) - WINDOW else None


async def first_token(endpoint: Endpoint, timeout_s: float = 300.0) -> float | None:
    """Seconds from now to the first token of one short request: the last leg of a cold start."""
    spec = endpoint.spec
    dialect = dialects.for_engine(
        spec.dialect,
        streams_usage=spec.streams_usage,
        min_tokens=spec.min_tokens,
        chunk_per_token=spec.chunk_per_token,
    )
    request = dialects.GenRequest(model=endpoint.model, prompt="Hello", max_tokens=4)
    raw = httpconn.build_request(
        endpoint.host, endpoint.port, "POST", dialect.path(request), dialect.body(request)
    )
    try:
        conn = await httpconn.Connection.open(endpoint.host, endpoint.port)
    except httpconn.HttpError:
        return None
    try:
        async with asyncio.timeout(timeout_s):  # not wait_for: it can lose a cancel (kitt/cancelling.py)
            response = await conn.request(raw)
    except TimeoutError:
        return None
    finally:
        conn.close()
    generation = dialects.decode_stream(dialect, response)
    if generation.error or not generation.chunk_times:
        return None
    return generation.chunk_times[0] - response.sent_at


def analyse(
    columns: RecordColumns, *, launch_s: float | None, first_token_s: float | None
) -> BenchmarkResult:
    """Cold start (launch → healthy → first token) and how the first requests compare with steady state."""
    ok = columns.ok
    order = np.argsort(columns.start[ok], kind="stable")
    ttfts = [float(t) * 1000 for t in columns.ttft[ok][order]]
    e2es = columns.end[ok][order]
    metrics: list[Metric] = []
    if launch_s is not None:
        metrics.append(Metric(name="cold_start_launch_to_healthy", value=launch_s, unit="s"))
    if first_token_s is not None:
        metrics.append(Metric(name="cold_start_healthy_to_first_token", value=first_token_s, unit="s"))
        if launch_s is not None:
            metrics.append(
                Metric(name="cold_start_launch_to_first_token", value=launch_s + first_token_s, unit="s")
            )
    if ttfts:
        steady = stats.median(ttfts[len(ttfts) // 2 :])
        metrics += [
            Metric(name="first_request_ttft", value=ttfts[0], unit="ms"),
            Metric(name="first_request_e2e", value=float(e2es[0]) * 1000, unit="ms"),
            Metric(name="steady_ttft", value=steady, unit="ms", percentile="p50"),
            Metric(name="first_to_steady_ttft_ratio", value=ttfts[0] / steady if steady else None, unit="x"),
            Metric(name="stabilised_after", value=stabilised_after(ttfts), unit="requests"),
        ]
    now = datetime.now(UTC)
    return BenchmarkResult(
        name="warmup",
        kind="performance",
        status="succeeded" if ttfts else "failed",
        error=None if ttfts else "no successful request to analyse",
        started_at=now,
        finished_at=now,
        metrics=tuple(metrics),
        settings={"requests": len(ttfts), "window": WINDOW, "tolerance": TOLERANCE},
    )
