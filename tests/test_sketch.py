"""Bounded distributions (kitt.bench.sketch, kitt.bench.timeline) and the columns that fold into them."""

import msgspec
import numpy as np
import pytest

from kitt import stats
from kitt.bench import metrics, sketch, timeline
from kitt.bench.columns import FOLD_EVERY, RecordColumns
from kitt.bench.records import RequestRecord
from kitt.bench.sketch import Sketch, SketchState
from kitt.bench.timeline import TokenTimeline


def test_a_bucket_holds_its_values_within_a_2048th():
    steps = np.concatenate([np.arange(5000), np.random.default_rng(1).integers(0, 1 << 41, 100_000)])
    middle = sketch.bucket_value(sketch.bucket_of(steps))
    assert np.array_equal(middle[:2048], np.arange(2048))  # one step wide: exact
    error = np.abs(middle - steps) / np.maximum(steps, 1)
    assert error.max() <= 1 / 2048
    buckets = sketch.bucket_of(steps)
    assert buckets.max() < sketch._BUCKETS and np.all(np.diff(sketch.bucket_of(np.sort(steps))) >= 0)


def test_few_values_are_summarised_exactly():
    values = np.random.default_rng(2).lognormal(-4, 1, 5000)
    s = Sketch(1e-9)
    s.add(values[:3000])
    s.add(values[3000:])
    assert s.exact and s.summary() == stats.summary(values)


def test_many_values_keep_exact_moments_and_percentiles_within_a_2048th():
    values = np.random.default_rng(3).lognormal(-4, 1, 300_000)  # gaps of ~18 ms, in seconds
    s = Sketch(1e-9)
    for part in np.array_split(values, 37):
        s.add(part)
    assert not s.exact and s.count == values.size
    want, got = stats.summary(values), s.summary()
    assert set(got) == set(want)
    assert got["min"] == want["min"] and got["max"] == want["max"]
    assert got["mean"] == pytest.approx(want["mean"], rel=1e-12)
    assert got["std"] == pytest.approx(want["std"], rel=1e-9)
    for key in ("p50", "p90", "p95", "p99", "p99.9"):
        assert got[key] == pytest.approx(want[key], rel=1 / 1024), key
    state = s.state()
    assert not state.values and len(state.buckets) <= sketch._BUCKETS  # bounded, whatever the count


def test_sketches_merge_and_travel_as_if_one_had_seen_every_value():
    rng = np.random.default_rng(4)
    a_values, b_values = rng.lognormal(-3, 1, 50_000), rng.lognormal(-5, 0.5, 70_000)
    a, b, whole = Sketch(1e-9), Sketch(1e-9), Sketch(1e-9)
    a.add(a_values)
    b.add(b_values)
    whole.add(np.concatenate([a_values, b_values]))
    wire = msgspec.msgpack.decode(msgspec.msgpack.encode(b.state()), type=SketchState)
    a.merge(Sketch.of(wire))  # a exact, b (and so the merge) in buckets
    assert a.count == whole.count and not a.exact
    assert a.summary() == pytest.approx(whole.summary(), rel=1e-9)
    small = Sketch(1e-9)
    small.add([0.5, 0.25])
    back = Sketch.of(msgspec.msgpack.decode(msgspec.msgpack.encode(small.state()), type=SketchState))
    assert back.exact and back.summary() == small.summary()


def test_a_sample_drawn_from_buckets_follows_the_values():
    values = np.random.default_rng(5).normal(0.02, 0.002, 100_000).clip(0)
    s = Sketch(1e-9)
    s.add(values)
    drawn = s.sample(20_000, seed=1)
    assert drawn.size == 20_000 and drawn.min() >= values.min() and drawn.max() <= values.max()
    assert float(np.median(drawn)) == pytest.approx(float(np.median(values)), rel=0.01)


def test_the_timeline_counts_tokens_in_a_window_exactly_then_within_a_bin():
    rng = np.random.default_rng(6)
    times = np.sort(rng.uniform(0, 120, 400_000))
    tokens = rng.integers(1, 4, times.size).astype(np.float64)
    exact, binned = TokenTimeline(), TokenTimeline()
    exact.add(times[:1000], tokens[:1000])
    assert exact.between(1.0, 2.0) == float(tokens[:1000][(times[:1000] >= 1) & (times[:1000] <= 2)].sum())
    for part_t, part_w in zip(np.array_split(times, 50), np.array_split(tokens, 50), strict=True):
        binned.add(part_t, part_w)
    truth = float(tokens[(times >= 17.3) & (times <= 101.7)].sum())
    per_bin = tokens.sum() / (120 / timeline.BIN_S)
    assert abs(binned.between(17.3, 101.7) - truth) <= 2 * per_bin * 1.5
    assert binned.total == float(tokens.sum())


def test_a_long_timeline_widens_its_bins_instead_of_growing():
    line = TokenTimeline()
    times = np.linspace(0.5, 35_999.5, 200_000)  # ten hours
    line.add(times, np.ones(times.size))
    assert line._bins is not None and line._bins.size <= timeline.MAX_BINS
    assert line.between(0, 36_000) == pytest.approx(200_000)
    assert line.between(0, 18_000) == pytest.approx(100_000, rel=0.001)


def _records(count: int, chunks: int) -> list[RequestRecord]:
    rng = np.random.default_rng(7)
    out = []
    for i in range(count):
        gaps = rng.lognormal(-4, 0.3, chunks)
        out.append(
            RequestRecord(
                index=i,
                worker=0,
                start=i * 0.01,
                chunk_offsets=list(np.cumsum(gaps)),
                end=float(gaps.sum()) + 0.001,
                output_tokens=chunks,
                error="boom" if i % 97 == 0 else None,
                warmup=i < 5,
            )
        )
    return out


def test_folded_columns_give_the_figures_of_columns_that_keep_every_chunk():
    records = _records(6000, 16)  # 96,000 chunks: past the fold and past the sketch's exact limit
    assert 6000 * 16 > 4 * FOLD_EVERY
    bounded, kept = RecordColumns(), RecordColumns.of(records)
    bounded.extend(records)
    got = metrics.serving_metrics(bounded, concurrency=8, slo=None, labels={})
    want = metrics.serving_metrics(kept, concurrency=8, slo=None, labels={})
    assert got == want
    gaps = kept.gaps(kept.ok & ~kept.warmup)
    itl = {(m.percentile or m.labels.get("stat")): m.value for m in got if m.name == "itl"}
    assert itl["p50"] == pytest.approx(float(np.percentile(gaps, 50)) * 1000, rel=1 / 1024)
    assert itl["mean"] == pytest.approx(float(gaps.mean()) * 1000, rel=1e-9)
    with pytest.raises(ValueError, match="keep_offsets"):
        bounded.gaps(bounded.ok)
