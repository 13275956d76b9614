"""Other tools' figures from KITT's records, checked against values worked out by hand on a fixed set."""

import pytest

from kitt.bench import views
from kitt.bench.columns import RecordColumns
from kitt.bench.records import RequestRecord


def _rec(index: int, start: float, chunks: list[float], end: float, **kw) -> RequestRecord:
    return RequestRecord(
        index=index,
        worker=0,
        start=start,
        chunk_offsets=chunks,
        end=end,
        output_tokens=kw.pop("tokens", len(chunks)),
        prompt_tokens=10,
        token_source="usage",
        **kw,
    )


# Two measured requests; a warm-up and a failed one that every view leaves out.
RECORDS = RecordColumns.of(
    [
        _rec(0, 0.0, [0.10, 0.12, 0.15], 0.151),
        _rec(1, 0.05, [0.20, 0.21, 0.22, 0.23], 0.231),
        _rec(2, 0.0, [0.05], 0.06, warmup=True),
        RequestRecord(index=3, worker=0, start=0.01, end=0.02, error="HTTP 500: boom"),
    ]
)
DURATION = 0.281  # first send (0.0) to the last response's end (0.05 + 0.231)


def _figures(view: views.View) -> dict[tuple[str, str | None], float | None]:
    return {(f.name, f.stat): f.value for f in views.compute(view, RECORDS)}


def test_the_vllm_view():
    got = _figures("vllm")
    assert got[("successful_requests", None)] == 2
    assert got[("benchmark_duration", None)] == pytest.approx(DURATION)
    assert got[("request_throughput", None)] == pytest.approx(2 / DURATION)
    assert got[("output_throughput", None)] == pytest.approx(7 / DURATION)
    assert got[("total_token_throughput", None)] == pytest.approx(27 / DURATION)
    assert got[("ttft", "mean")] == pytest.approx(150.0)
    assert got[("ttft", "p99")] == pytest.approx(199.0)
    # TPOT per request, from the response's end: (151 - 100) / 2 and (231 - 200) / 3
    assert got[("tpot", "mean")] == pytest.approx((25.5 + 31 / 3) / 2)
    # ITL pools every gap: 20, 30, 10, 10, 10
    assert got[("itl", "mean")] == pytest.approx(16.0)
    assert got[("itl", "p50")] == pytest.approx(10.0)
    assert got[("e2el", "mean")] == pytest.approx(191.0)


def test_the_guidellm_view():
    got = _figures("guidellm")
    assert got[("requests_per_second", None)] == pytest.approx(2 / DURATION)
    assert got[("time_to_first_token_ms", "p50")] == pytest.approx(150.0)
    # ITL per request, first to last token: (150 - 100) / 2 and (230 - 200) / 3
    assert got[("inter_token_latency_ms", "mean")] == pytest.approx((25.0 + 10.0) / 2)
    # TPOT per request, first token included: 150 / 3 and 230 / 4
    assert got[("time_per_output_token_ms", "mean")] == pytest.approx((50.0 + 57.5) / 2)
    assert got[("request_latency", "mean")] == pytest.approx(191.0)


def test_the_aiperf_view():
    got = _figures("aiperf")
    assert got[("request_count", None)] == 2
    # aiperf's ITL is vLLM's TPOT; per-user throughput is its inverse
    assert got[("inter_token_latency", "mean")] == pytest.approx((25.5 + 31 / 3) / 2)
    assert got[("output_token_throughput_per_user", "mean")] == pytest.approx((1000 / 25.5 + 3000 / 31) / 2)
    assert got[("output_sequence_length", "mean")] == pytest.approx(3.5)
    assert got[("output_token_throughput", None)] == pytest.approx(7 / DURATION)


def test_a_view_of_no_successful_request_says_so():
    failed = RecordColumns.of([RequestRecord(index=0, worker=0, start=0.0, error="refused")])
    assert views.compute("vllm", failed) == [
        views.Figure(name="successful_requests", value=0, unit="requests")
    ]
    with pytest.raises(ValueError, match="unknown view 'genai'"):
        views.compute("genai", RECORDS)  # type: ignore[arg-type]
