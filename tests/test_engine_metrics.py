"""The engine's Prometheus metrics beside a benchmark (kitt.engines.prometheus, kitt.bench.enginewatch).

The parser on a page recorded from the real llama-server (`llama-server --metrics`, the build from PyPI,
tests/recordings/llama_cpp_metrics.txt) and on the format's corners; the watch on the real llama-server
while the load generator drives it; a benchmark's engine figures and, with no /metrics, its warning
(against the stub, whose /metrics is its own, simulated, under vLLM's names).
"""

from pathlib import Path

import pytest

from kitt.bench import loadgen, performance, telemetry
from kitt.bench.enginewatch import EngineWatch
from kitt.bench.suites import PerformanceTest, Sampling
from kitt.charts import figures
from kitt.engines import prometheus, specs
from kitt.engines.runtime import Endpoint
from tests.factories import forced_plan
from tests.stubprocess import running_stub

RECORDED = Path(__file__).parent / "recordings" / "llama_cpp_metrics.txt"


def _wanted(spec: specs.EngineSpec) -> frozenset[str]:
    return frozenset(s for m in spec.prometheus for s in m.sources)


def test_the_recorded_llama_server_page_gives_each_mapped_metric():
    spec = specs.get("llama_cpp")
    found = prometheus.parse(RECORDED.read_bytes(), _wanted(spec))
    assert found["llamacpp:tokens_predicted_total"] == 5.0 and found["llamacpp:prompt_tokens_total"] == 2.0
    picked = {m.name: prometheus.pick(found, m) for m in spec.prometheus}
    assert picked["requests_running"] == 0.0 and picked["generation_tokens"] == 5.0
    assert picked["kv_cache_usage"] is None  # this build does not export it: no figure, no error


def test_label_sets_are_summed_and_the_formats_corners_read():
    page = (
        b"# HELP vllm:num_requests_running Running\n"
        b"# TYPE vllm:num_requests_running gauge\n"
        b'vllm:num_requests_running{engine="0",model_name="a b} c"} 3\n'
        b'vllm:num_requests_running{engine="1",model_name="x"} 2 1712345678000\n'
        b"vllm:kv_cache_usage_perc 0.25\n"
        b"vllm:num_requests_waiting NaN\n"
        b"vllm:num_requests_running_created 99\n"  # a longer name is another metric
    )
    found = prometheus.parse(page, _wanted(specs.get("vllm")))
    assert found == {"vllm:num_requests_running": 5.0, "vllm:kv_cache_usage_perc": 0.25}
    [usage] = [m for m in specs.get("vllm").prometheus if m.name == "kv_cache_usage"]
    assert prometheus.pick(found, usage) == 25.0 and usage.unit == "%"


@pytest.mark.parametrize(
    ("page", "error"),
    [
        (b"<html>not found</html>\n", "not a metric line"),
        (b"vllm:num_requests_running many\n", "not a number"),
    ],
)
def test_a_page_that_is_not_prometheus_text_is_an_error(page, error):
    with pytest.raises(prometheus.PrometheusError, match=error):
        prometheus.parse(page, frozenset({"vllm:num_requests_running"}))


async def test_the_watch_counts_what_the_real_llama_server_generated(llama_server):
    """Between the level's first and last scrape the engine's own counter grew by exactly the tokens the
    client received, and it saw requests running."""
    plan = forced_plan(llama_server, "hi", 24, 24)
    async with EngineWatch(llama_server, interval_s=0.02) as watch:
        result = await loadgen.run(plan)
    assert watch.warning is None and len(watch.scrapes) >= 3
    counted = [s.values["generation_tokens"] for s in watch.scrapes]
    assert counted[-1] - counted[0] == int(result.columns.output_tokens.sum()) == 24 * 24
    assert max(v for _, v in watch.series("requests_running")) >= 1
    # The per-second rows: one per scrape, a counter as its rate over the interval that ends at `t`, so the
    # rates integrate back to the tokens generated.
    rows = telemetry.engine_rows(watch, {"concurrency": 2, "run": 0})
    assert len(rows) == len(watch.scrapes) and all(r["series"] == "engine" for r in rows)
    times = [0.0] + [float(r["t"]) for r in rows]
    generated = sum(
        float(r["generation_tokens"]) * (t1 - t0)
        for r, t0, t1 in zip(rows, times[:-1], times[1:], strict=True)
        if "generation_tokens" in r
    )
    assert generated == pytest.approx(24 * 24)
    found = watch.metrics({"concurrency": "2"})
    figures = {(m.name, m.labels["stat"]): m for m in found if "stat" in m.labels}
    assert figures[("engine_generation_tokens", "max")].unit == "tok/s"
    assert figures[("engine_generation_tokens", "mean")].value > 0


async def test_a_benchmark_reports_engine_figures_and_a_failed_scrape_only_warns():
    sampling = Sampling(max_tokens=8)
    test = PerformanceTest(name="c", concurrency=(4,), max_requests=40, warmup_requests=0)
    with running_stub() as url:
        endpoint = _endpoint(url)
        result, _ = await performance.run_test(test, sampling, endpoint)
    names = {m.name for m in result.metrics}
    assert {"engine_requests_running", "engine_generation_tokens", "engine_scrapes"} <= names
    assert result.settings["warnings"] is None
    with running_stub(metrics=False) as url:
        result, _ = await performance.run_test(test, sampling, _endpoint(url))
    assert result.status == "succeeded"
    warning = str(result.settings["warnings"])
    assert "concurrency 4: engine metrics:" in warning and "of /metrics failed (first: HTTP 404)" in warning
    assert not any(m.name == "engine_requests_running" for m in result.metrics)


async def test_each_levels_engine_series_is_kept_and_drawn_end_to_end():
    sampling = Sampling(max_tokens=8)
    test = PerformanceTest(name="c", concurrency=(2, 4), max_requests=40, warmup_requests=0)
    rows: list[dict] = []
    with running_stub() as url:
        result, _ = await performance.run_test(test, sampling, _endpoint(url), keep_telemetry=rows.append)
    scrapes = {m.labels["concurrency"]: m.value for m in result.metrics if m.name == "engine_scrapes"}
    by_level = {c: [r for r in rows if r["concurrency"] == c] for c in (2, 4)}
    # a row for every scrape (at a level's first, its gauges only: a rate needs an earlier reading)
    assert {str(c): float(len(found)) for c, found in by_level.items()} == scrapes
    assert "generation_tokens" not in by_level[4][0] and "generation_tokens" in by_level[4][1]
    lines = telemetry.end_to_end(rows, "engine")
    running = lines["requests_running"]
    second_level_starts = by_level[2][-1]["t"] + by_level[4][0]["t"]
    assert [x for x, _ in running] == sorted(x for x, _ in running)
    assert running[len(by_level[2])][0] == pytest.approx(second_level_starts)
    [chart, *_] = figures.over_time("c", rows)
    assert "c: engine requests running and waiting over time" in chart and "requests running" in chart


def _endpoint(url: str) -> Endpoint:
    host, port = url.removeprefix("http://").split(":")
    return Endpoint(host=host, port=int(port), model="stub", spec=specs.get("vllm"))
