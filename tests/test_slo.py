"""SLO search: targets parsed with precise errors, levels decided by bootstrap intervals, and the knee of a
server whose latency grows with load found within one step (the stub server, run as its own process)."""

import numpy as np
import pytest

from kitt.bench import targets
from kitt.bench.suites import Suite
from kitt.events.ids import uuid7
from kitt.orchestration.executor import Executor, RunRequest
from kitt.orchestration.reporting import CommandReporter
from kitt.storage import queries, records
from kitt.storage.checkpoints import wait_for_checkpoint
from kitt.yamlfile import YamlError, parse_yaml
from tests.stubprocess import running_stub
from tests.test_records import stub_request

SEARCH_SUITE = """
name: knee
tests:
  - kind: slo_search
    name: knee
    targets: "ttft_p99<=75ms"
    search: concurrency
    low: 1
    high: 32
    requests_per_level: 120
    warmup_requests: 0
    input_tokens: 4
sampling: {max_tokens: 4}
"""


def test_targets_are_parsed_with_precise_errors():
    found = targets.parse("ttft_p99<=500ms, tpot_p99.9<=0.05s")
    assert [t.label for t in found] == ["ttft_p99<=500ms", "tpot_p99.9<=50ms"]
    with pytest.raises(targets.TargetError, match=r"'ttft<=5ms': write METRIC_pNN<=VALUE\(ms\|s\)"):
        targets.parse("ttft<=5ms")
    with pytest.raises(targets.TargetError, match="unknown metric 'latency'; use ttft, tpot, itl, e2e"):
        targets.parse("latency_p50<=5ms")
    with pytest.raises(targets.TargetError, match="between 0 and 100"):
        targets.parse("ttft_p100<=5ms")
    bad = "name: s\ntests:\n  - {kind: slo_search, name: s, targets: 'fast please'}\n"
    with pytest.raises(YamlError, match="fast please"):
        parse_yaml(bad, Suite, source="suite")


def test_a_level_is_unsure_until_its_interval_clears_the_target():
    rng = np.random.default_rng(0)
    target = targets.parse("ttft_p50<=100ms")[0]
    assert targets.check(target, rng.normal(80, 5, 500)).outcome == "met"
    assert targets.check(target, rng.normal(120, 5, 500)).outcome == "missed"
    near = targets.check(target, rng.normal(100, 30, 40))
    assert near.outcome == "unsure" and near.low_ms < 100 < near.high_ms
    assert targets.decide([near], final=False) == "unsure"
    assert targets.decide([near], final=True) in ("met", "missed")  # the point value decides at the end


@pytest.mark.slow  # a long benchmark: a search over many levels
async def test_the_search_finds_the_knee_of_a_loaded_server(runtime, tmp_path):
    """At concurrency c the stub holds a new stream's first token (c - 1) x 10 ms: the p99 TTFT target of
    75 ms is met up to c = 8 and missed from c = 9."""
    suite = tmp_path / "knee.yaml"
    suite.write_text(SEARCH_SUITE)
    with running_stub(tick_ms=2, load_ms=10) as url:
        request = stub_request(url, suite)
        outcome = await Executor(CommandReporter(runtime.nc), home=runtime.settings.home).run(request)
    assert outcome.status == "succeeded", outcome.error
    assert await wait_for_checkpoint(runtime.engine, "karr", outcome.seq)
    [doc] = await queries.documents(runtime.engine, [outcome.run_id])
    [result] = doc.benchmarks
    knee = next(m for m in result.metrics if m.name == "slo_knee")
    assert knee.unit == "concurrency" and knee.value is not None and 7 <= knee.value <= 9, result.settings
    levels = [float(x) for x in str(result.settings["levels"]).split(",")]
    assert levels[:2] == [1.0, 32.0] and len(levels) <= 8
    met = {m.labels["concurrency"]: m.value for m in result.metrics if m.name == "slo_met"}
    assert met["1"] == 1.0 and met["32"] == 0.0
    goodput = [m for m in result.metrics if m.name == "goodput"]
    assert len(goodput) >= len(levels)  # the goodput curve: one point per level measured
    # Every level's requests were kept, labelled with their level.
    by_level = await records.columns_by_level(runtime.nc, result)
    assert {level.split()[0] for level in by_level} == {f"concurrency={lv:g}" for lv in levels}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_bad_slo_targets_fail_the_run_before_any_load(runtime):
    base = {"model": "stub", "engine": "vllm", "runtime": "external", "endpoint": "http://127.0.0.1:9"}
    executor = Executor(CommandReporter(runtime.nc), home=runtime.settings.home)
    bad = await executor.run(RunRequest(run_id=uuid7(), suite="slo", slo="ttft<=5", **base))
    assert bad.status == "failed" and "write METRIC_pNN<=VALUE" in (bad.error or "")
    none = await executor.run(RunRequest(run_id=uuid7(), suite="quick", slo="ttft_p99<=5ms", **base))
    assert none.status == "failed" and "has no slo_search test for --slo: use -s slo" in (none.error or "")
