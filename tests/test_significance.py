"""A/B verdicts: a bootstrap interval of the difference decides, not a fixed threshold."""

import random

import numpy as np

from kitt.bench import significance
from kitt.bench.columns import RecordColumns
from kitt.bench.records import RequestRecord


def _level(ttft_ms: np.ndarray, *, gap_ms: float = 10.0, tokens: int = 8, spacing_s: float = 0.01):
    """Requests sent every `spacing_s`, each with its TTFT and then `tokens - 1` gaps of `gap_ms`."""
    records = []
    for i, ttft in enumerate(ttft_ms):
        offsets = [(ttft + gap_ms * k) / 1000 for k in range(tokens)]
        records.append(
            RequestRecord(
                index=i,
                worker=0,
                start=i * spacing_s,
                chunk_offsets=offsets,
                end=offsets[-1] + 0.001,
                output_tokens=tokens,
            )
        )
    return RecordColumns.of(records)


def _by_figure(diffs):
    return {(d.metric, d.stat): d for d in diffs}


def test_a_real_slowdown_is_worse_and_noise_is_the_same():
    rng = np.random.default_rng(1)
    a = _level(rng.normal(100, 5, 2000))
    same = _level(rng.normal(100, 5, 2000))
    slower = _level(rng.normal(110, 5, 2000))
    against_noise = _by_figure(significance.ab(a, same))
    assert against_noise[("ttft", "p50")].verdict == "same"
    assert against_noise[("ttft", "p50")].low < 0 < against_noise[("ttft", "p50")].high
    against_slower = _by_figure(significance.ab(a, slower))
    ttft = against_slower[("ttft", "p50")]
    assert ttft.verdict == "worse" and 8 < ttft.delta < 12 and ttft.low > 0
    assert ttft.change_pct is not None and 8 < ttft.change_pct < 12
    # TPOT did not change (the same 10 ms gaps), whatever TTFT did.
    assert against_slower[("itl", "p50")].verdict == "same"


def test_lower_latency_and_higher_throughput_are_better():
    rng = np.random.default_rng(2)
    a = _level(rng.normal(100, 5, 1500), spacing_s=0.01)
    b = _level(rng.normal(80, 5, 1500), spacing_s=0.005)  # twice the completions per second
    diffs = _by_figure(significance.ab(a, b))
    assert diffs[("ttft", "p99")].verdict == "better"
    throughput = diffs[("request_throughput", "mean")]
    assert throughput.verdict == "better" and throughput.b > 1.8 * throughput.a


def test_too_few_values_give_no_verdict():
    one = _level(np.array([100.0]))
    # One request: its seven gaps can be compared, its one TTFT cannot.
    assert {d.metric for d in significance.ab(one, one)} == {"itl"}
    assert significance.ab(one, one, metrics=("ttft",)) == []


def _seconds_level(base_ms: float, seed: int) -> RecordColumns:
    """Offsets built in seconds (TTFT + 10 ms per token), as a stream's arrival times are."""
    rng = random.Random(seed)
    records = []
    for i in range(300):
        ttft = rng.gauss(base_ms, 5) / 1000
        chunks = [ttft + 0.01 * k for k in range(8)]
        records.append(
            RequestRecord(
                index=i,
                worker=0,
                start=i * 0.005,
                chunk_offsets=chunks,
                end=chunks[-1] + 0.001,
                output_tokens=8,
            )
        )
    return RecordColumns.of(records)


def test_identical_values_are_the_same_not_a_rounding_regression():
    # Different TTFTs, the same gaps: TPOT is equal up to the rounding of (end - ttft) / (n - 1).
    found = significance.ab(_seconds_level(150, 1), _seconds_level(180, 2), metrics=("tpot",))
    assert {d.stat: d.verdict for d in found} == {"p50": "same", "p99": "same"}
