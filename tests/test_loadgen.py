"""The load generator and its metrics: definitions on known records, and real runs against the stub server."""

import asyncio
import itertools
import statistics

import msgspec
import pytest

from kitt import stats
from kitt.bench import loadgen, metrics, performance, plans, prompts
from kitt.bench.columns import RecordColumns
from kitt.bench.records import MS_STEP, RequestRecord, WorkerStats
from kitt.bench.schedule import Schedule
from kitt.bench.sketch import SketchState
from kitt.bench.stubserver import StubServer
from kitt.bench.suites import DEFAULT_MAX_REQUESTS, PerformanceTest, Sampling
from kitt.children import free_port
from kitt.engines import dialects, specs
from kitt.engines.runtime import Endpoint
from kitt.events.results import Sample
from tests.factories import measured


def _rec(i: int, start: float, chunks: list[float], tokens: int | None = None, **kw) -> RequestRecord:
    return RequestRecord(
        index=i,
        worker=0,
        start=start,
        chunk_offsets=chunks,
        end=chunks[-1] + 0.001 if chunks else 0.0,
        output_tokens=tokens if tokens is not None else len(chunks),
        token_source="usage",
        **kw,
    )


def _by_key(ms: list) -> dict:
    return {(m.name, m.percentile or m.labels.get("stat")): m.value for m in ms}


def test_percentiles_interpolate_like_numpy():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert stats.percentile(values, 50) == 3.0
    assert stats.percentile(values, 90) == pytest.approx(4.6)
    assert stats.percentile(values, 99.9) == pytest.approx(4.996)
    s = stats.summary(values)
    assert s["mean"] == 3.0 and s["std"] == pytest.approx(statistics.pstdev(values))
    assert stats.summary([]) == {}


def test_serving_metrics_follow_the_vllm_definitions():
    records = [
        _rec(0, 0.0, [0.10, 0.12, 0.15]),  # ttft 100 ms, gaps 20 and 30 ms
        _rec(1, 0.0, [0.20, 0.21, 0.22, 0.23]),  # ttft 200 ms, gaps 10 ms
        _rec(2, 0.0, [0.05], warmup=True),  # excluded
        RequestRecord(index=3, worker=0, start=0.1, error="HTTP 500: boom"),
    ]
    got = _by_key(metrics.serving_metrics(RecordColumns.of(records), concurrency=None, slo=None, labels={}))
    assert got[("completed", None)] == 2 and got[("failed", None)] == 1
    assert got[("ttft", "p50")] == pytest.approx(150.0)
    # ITL pools every gap of every request: 20, 30, 10, 10, 10
    assert got[("itl", "mean")] == pytest.approx(16.0)
    assert got[("itl", "max")] == pytest.approx(30.0)
    # TPOT = (E2E - TTFT) / (tokens - 1)
    tpot_0 = (0.151 - 0.10) / 2 * 1000
    tpot_1 = (0.231 - 0.20) / 3 * 1000
    assert got[("tpot", "mean")] == pytest.approx((tpot_0 + tpot_1) / 2)
    assert got[("e2e", "max")] == pytest.approx(231.0)


def test_throughput_uses_the_steady_window_and_goodput_the_slo():
    # Two slots, each doing 10 back-to-back 100 ms requests of 10 tokens.
    records = []
    for slot in range(2):
        for k in range(10):
            records.append(
                _rec(len(records), k * 0.1 + slot * 0.01, [0.01 * (j + 1) for j in range(9)] + [0.099])
            )
    ms = metrics.serving_metrics(
        RecordColumns.of(records), concurrency=2, slo=metrics.Slo(ttft_ms=5.0), labels={"concurrency": "2"}
    )
    got = {m.name: m for m in ms}
    assert got["request_throughput"].labels["window"] == "steady"
    assert got["request_throughput"].value == pytest.approx(20.0, rel=0.15)
    assert got["output_throughput"].value == pytest.approx(200.0, rel=0.15)
    assert got["goodput"].value == 0.0  # ttft 10 ms never meets a 5 ms SLO
    relaxed = {
        m.name: m
        for m in metrics.serving_metrics(
            RecordColumns.of(records), concurrency=2, slo=metrics.Slo(ttft_ms=50), labels={}
        )
    }
    assert relaxed["goodput"].value == pytest.approx(relaxed["request_throughput"].value)


def _ms(values: list[float]) -> SketchState:
    return SketchState(resolution=MS_STEP, values=tuple(values))


def test_a_saturated_client_marks_its_result_invalid():
    busy = WorkerStats(worker=0, cpu_s=9.5, wall_s=10.0, loop_lag_ms=_ms([1.0] * 50 + [40.0] * 5))
    idle = WorkerStats(
        worker=1, cpu_s=1.0, wall_s=10.0, loop_lag_ms=_ms([0.5] * 100), lateness_ms=_ms([0.1] * 10)
    )
    health = metrics.client_health([busy, idle], {})
    assert not health.valid
    assert "worker 0 used 95% of a core" in health.reason and "event-loop lag" in health.reason
    assert metrics.client_health([idle], {}).valid


def test_arrival_schedules():
    constant = loadgen.constant_arrivals(10.0, 5)
    assert constant == pytest.approx((0.0, 0.1, 0.2, 0.3, 0.4))
    poisson = loadgen.poisson_arrivals(20.0, 4000, seed=1)
    gaps = [b - a for a, b in itertools.pairwise(poisson)]
    assert statistics.mean(gaps) == pytest.approx(0.05, rel=0.05)
    bursty = loadgen.poisson_arrivals(20.0, 4000, burstiness=0.25, seed=1)
    bursty_gaps = [b - a for a, b in itertools.pairwise(bursty)]
    assert statistics.pstdev(bursty_gaps) > 1.5 * statistics.pstdev(gaps)
    assert loadgen.poisson_arrivals(float("inf"), 3) == (0.0, 0.0, 0.0)


def test_a_plan_is_shared_between_workers_without_losing_requests():
    plan = loadgen.LoadPlan(
        host="h",
        port=1,
        dialect="openai",
        path="/",
        bodies=(b"{}",),
        concurrency=5,
        max_requests=11,
        warmup_requests=3,
        arrivals=tuple(range(7)),
    )
    parts = loadgen.split(plan, 2)
    assert [p.concurrency for p in parts] == [3, 2]
    assert sum(p.max_requests for p in parts) == 11 and sum(p.warmup_requests for p in parts) == 3
    assert sorted(a for p in parts for a in p.arrivals) == list(range(7))


@pytest.fixture
async def stub():
    server = StubServer(tick_s=0.005)
    server.start()
    port = free_port()
    srv = await asyncio.get_running_loop().create_server(server.protocol, "127.0.0.1", port)
    yield port, server
    srv.close()
    server._ticker.cancel()


async def _run(plan: loadgen.LoadPlan, **kw) -> tuple[loadgen.LoadResult, list[RequestRecord]]:
    """Run a plan keeping every record handed out (a real test streams them to RECORDS instead)."""
    kept: list[RequestRecord] = []
    result = await loadgen.run(plan, on_records=kept.extend, **kw)
    assert len(result.columns) == len(kept)  # the columns saw every record too
    return result, sorted(kept, key=lambda r: r.start)


def _plan(port: int, **kw) -> loadgen.LoadPlan:
    d = dialects.OpenAI()
    body = d.body(dialects.GenRequest(model="stub", prompt="hi", max_tokens=6))
    return loadgen.LoadPlan(
        host="127.0.0.1", port=port, dialect="openai", path="/v1/completions", bodies=(body,), **kw
    )


async def test_fixed_concurrency_against_the_stub(stub):
    port, server = stub
    _, records = await _run(_plan(port, concurrency=4, max_requests=12, warmup_requests=2))
    assert len(records) == 14 and sum(r.warmup for r in records) == 2
    assert all(r.ok and len(r.chunk_offsets) == 6 and r.output_tokens == 6 for r in records)
    assert {r.token_source for r in records} == {"usage"}
    assert server.truth.completed == 14
    # Never more than four in flight.
    events = sorted([(r.start, 1) for r in records] + [(r.start + r.end, -1) for r in records])
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    assert peak <= 4


async def test_worker_processes_share_the_load(stub):
    port, _server = stub
    result, records = await _run(_plan(port, concurrency=4, max_requests=8), workers=2)
    assert len(records) == 8 and {r.worker for r in records} == {0, 1}
    assert len(result.workers) == 2 and all(w.cpu_s > 0 for w in result.workers)
    assert all(r.ok for r in records)


async def test_request_rate_is_scheduled_on_an_absolute_clock(stub):
    port, _ = stub
    arrivals = loadgen.constant_arrivals(40.0, 10)
    result, records = await _run(_plan(port, mode="rate", arrivals=arrivals, max_requests=10))
    assert [r.scheduled for r in records] == pytest.approx(list(arrivals))
    assert all(r.start >= r.scheduled for r in records)
    assert len(result.workers[0].lateness_ms.values) == 10


def test_workers_share_one_schedule_made_as_needed():
    schedule = Schedule(rate=50.0, count=1001, burstiness=0.5, seed=7)
    whole = loadgen.poisson_arrivals(50.0, 1001, burstiness=0.5, seed=7)
    assert tuple(schedule.times()) == whole
    shares = [list(schedule.share(w, 3)) for w in range(3)]
    assert [len(s) for s in shares] == [334, 334, 333]
    # Worker w's i-th request is request i * 3 + w of the one schedule.
    assert all(whole[i * 3 + w] == due for w, share in enumerate(shares) for i, due in share)
    assert tuple(Schedule(rate=4.0, count=3, arrival="constant").times()) == (0.0, 0.25, 0.5)


def test_a_rate_plan_does_not_grow_with_its_request_cap(stub):
    port, _ = stub
    test = msgspec.convert(
        {"kind": "performance", "name": "t", "rate": [500], "max_requests": 50_000_000, "max_duration_s": 60},
        PerformanceTest,
    )
    endpoint = Endpoint(host="127.0.0.1", port=port, model="stub", spec=specs.get("vllm"))
    sizes = []
    for cap in (1_000, 50_000_000):
        capped = msgspec.structs.replace(test, max_requests=cap)
        plan = plans.plan_for(capped, Sampling(max_tokens=4), endpoint, 500.0, "rate")
        assert plan.schedule is not None and plan.schedule.count == cap + capped.warmup_requests
        assert plan.arrivals == ()
        sizes.append(len(msgspec.msgpack.encode(msgspec.structs.replace(plan, bodies=()))))
    assert max(sizes) - min(sizes) <= 8 and max(sizes) < 1024  # what a worker is sent: a few numbers


async def test_a_scheduled_rate_level_across_two_workers_sends_the_schedule(stub):
    port, _ = stub
    schedule = Schedule(rate=100.0, count=20, arrival="constant")
    _, records = await _run(_plan(port, mode="rate", schedule=schedule, max_requests=20), workers=2)
    assert sorted(r.scheduled for r in records) == pytest.approx(list(schedule.times()))


async def test_max_duration_stops_issuing(stub):
    port, _ = stub
    _, records = await _run(_plan(port, concurrency=2, max_requests=None, max_duration_s=0.3))
    assert 2 <= len(records) < 200
    # The window counts from when the worker began driving: on a busy machine that can be after t0
    # (it connects its slots first), and a late start still gets its whole window.
    first = min(r.start for r in records)
    assert max(r.start for r in records) - first < 0.3


async def test_an_unreachable_server_gives_failed_records_not_exceptions():
    _, records = await _run(_plan(free_port(), concurrency=2, max_requests=4))
    assert len(records) == 4
    assert all(r.error and "cannot connect" in r.error for r in records)


def test_prompts_from_a_file(tmp_path):
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "a"}\n\n{"prompt": "b"}\n')
    assert prompts.from_file(jsonl, 5) == ["a", "b", "a", "b", "a"]
    text = tmp_path / "p.txt"
    text.write_text("one\ntwo\n")
    assert prompts.from_file(text, 3) == ["one", "two", "one"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a"}\n{"text": "b"}\n')
    with pytest.raises(prompts.PromptError, match=r"bad.jsonl:2: expected a JSON object with a \"prompt\""):
        prompts.from_file(bad, 2)
    with pytest.raises(prompts.PromptError, match="cannot read prompts"):
        prompts.from_file(tmp_path / "missing.txt", 1)
    synthetic = prompts.synthetic(3, 16)
    assert len(set(synthetic)) == 3 and all(len(p.split()) == 16 for p in synthetic)


async def test_a_suite_test_with_a_sweep_and_a_rate(stub):
    port, _ = stub
    endpoint = Endpoint(host="127.0.0.1", port=port, model="stub", spec=specs.get("vllm"))
    sampling = Sampling(max_tokens=4)
    sweep = PerformanceTest(name="sweep", concurrency=(1, 3), max_requests=6, warmup_requests=1)
    samples: list[Sample] = []
    result, first = await performance.run_test(sweep, sampling, endpoint, keep=samples.append)
    assert result.status == "succeeded" and first is not None and len(first.columns) == 7
    levels = {m.labels["concurrency"] for m in result.metrics if m.name == "ttft"}
    assert levels == {"1", "3"} and len(samples) == 14 and result.samples == ()
    rate = PerformanceTest(name="rate", rate=(40.0,), arrival="constant", max_requests=8, warmup_requests=0)
    samples.clear()
    result, _ = await performance.run_test(rate, sampling, endpoint, keep=samples.append)
    assert {m.labels["rate"] for m in result.metrics if m.name == "ttft"} == {"40"}
    assert any(m.name == "schedule_lateness" for m in result.metrics)
    assert len(samples) == 8 and all(s["scheduled_s"] is not None for s in samples)


async def test_a_level_bounded_by_duration_alone_runs_for_that_long(stub):
    """`max_duration_s` without `max_requests` runs for that long, at a rate or at a concurrency (the
    default cap of 32 applies only when neither bound is given), and the result says which bound ended
    each level."""
    port, _ = stub
    endpoint = Endpoint(host="127.0.0.1", port=port, model="stub", spec=specs.get("vllm"))
    sampling = Sampling(max_tokens=4)
    rate = PerformanceTest(name="r", rate=(100.0,), arrival="constant", max_duration_s=1.0, warmup_requests=0)
    samples: list[Sample] = []
    result, _ = await performance.run_test(rate, sampling, endpoint, keep=samples.append)
    assert measured(result.status, result.error)  # the self-check may flag a loaded machine: it still ran
    assert len(samples) == 100  # every arrival due within the second
    assert result.settings["ended_by"] == "rate 100: max_duration_s"
    held = PerformanceTest(name="c", concurrency=(2,), max_duration_s=1.5, warmup_requests=0)
    samples.clear()
    result, first = await performance.run_test(held, sampling, endpoint, keep=samples.append)
    assert first is not None and len(samples) > DEFAULT_MAX_REQUESTS, len(samples)
    assert max(s["start_s"] for s in samples) >= 1.0  # still sending well into its duration
    assert result.settings["ended_by"] == "concurrency 2: max_duration_s"
    capped = PerformanceTest(name="n", concurrency=(1,), warmup_requests=0)  # neither bound: the default
    assert capped.max_requests == DEFAULT_MAX_REQUESTS
    result, _ = await performance.run_test(capped, sampling, endpoint)
    assert result.settings["ended_by"] == "concurrency 1: max_requests"
    with pytest.raises(ValueError, match="max_duration_s must be positive"):
        PerformanceTest(name="z", max_duration_s=0)
