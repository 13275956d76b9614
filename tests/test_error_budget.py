"""A level's error budget: failed requests classified and counted, a level past its budget failed (and
stopped early once that is clear), and a sweep that stops there unless told to go on.

Against the stub server failing every N-th completion request on purpose; its truth counts them.
"""

import json
import urllib.request

import pytest

from kitt.bench import errors, performance
from kitt.bench.suites import PerformanceTest, Sampling
from kitt.engines import specs
from kitt.engines.runtime import Endpoint
from tests.stubprocess import running_stub
from tests.test_cli import kitt

SAMPLING = Sampling(max_tokens=4)


def _endpoint(url: str) -> Endpoint:
    host, port = url.removeprefix("http://").split(":")
    return Endpoint(host=host, port=int(port), model="stub", spec=specs.get("vllm"))


def _truth(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/truth", timeout=10) as answer:
        return json.load(answer)


def _metric(result, name: str, **labels: str) -> float | None:
    found = [m.value for m in result.metrics if m.name == name and labels.items() <= m.labels.items()]
    return found[0] if found else None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("HTTP 503: overloaded", "HTTP 503"),
        ("HTTP 429: slow down", "HTTP 429"),
        ("no complete response within 300s", "timeout"),
        ("connection closed mid-response", "connection"),
        ("cannot connect to 127.0.0.1:1: Connection refused", "connection"),
        ("malformed SSE event b'{x': ...", "malformed stream"),
        ("server error in stream: out of memory", "engine error"),
        ("the response carried no tokens", "no tokens"),
        ("something else", "other"),
    ],
)
def test_each_failure_has_its_class(text, kind):
    assert errors.classify(text) == kind


def test_a_worker_stops_only_once_the_rate_is_clearly_over_budget():
    unlucky = errors.Budget(0.05)
    for failed in [True, True] + [False] * 18:  # 10 % of 20: could be a 5 % server's bad luck
        unlucky.count(failed)
    assert not unlucky.blown
    broken = errors.Budget(0.05)
    for n in range(20):
        broken.count(n % 4 == 0)  # 25 %
    assert broken.blown and errors.wilson_low(5, 20) > 0.05 > errors.wilson_low(2, 20)
    unbounded = errors.Budget(None)
    for _ in range(100):
        unbounded.count(True)
    assert not unbounded.blown


async def test_a_level_over_its_budget_fails_early_and_ends_the_sweep():
    test = PerformanceTest(name="c", concurrency=(4, 8), max_requests=400, warmup_requests=0)
    with running_stub(fail_every=4) as url:
        result, _ = await performance.run_test(test, SAMPLING, _endpoint(url))
        truth = _truth(url)
    assert result.status == "failed"
    failed = _metric(result, "errors", concurrency="4", **{"class": "HTTP 503"})
    assert failed == truth["failed"] and 5 <= failed < 100  # stopped well before 400 requests
    rate = _metric(result, "error_rate", concurrency="4")
    assert rate == pytest.approx(failed / (failed + truth["completed"]) * 100)
    assert (
        result.error
        == f"concurrency 4: error rate {rate:.0f} % > 5 % (HTTP 503: {failed:.0f}); stopped early"
    )
    assert "concurrency 4: max_error_rate" in str(result.settings["ended_by"])
    assert "the sweep stopped at the failed concurrency 4; not run: 8" in str(result.settings["warnings"])
    assert _metric(result, "error_rate", concurrency="8") is None


async def test_within_its_budget_a_level_succeeds_and_counts_its_failures_exactly():
    test = PerformanceTest(
        name="c", concurrency=(4,), max_requests=200, warmup_requests=0, max_error_rate=0.5
    )
    with running_stub(fail_every=4) as url:
        result, _ = await performance.run_test(test, SAMPLING, _endpoint(url))
    assert result.status == "succeeded", result.error
    assert _metric(result, "errors", **{"class": "HTTP 503"}) == 50
    assert _metric(result, "error_rate") == 25.0


async def test_a_sweep_told_to_go_on_runs_every_level_and_fails_each_over_budget():
    test = PerformanceTest(
        name="c", concurrency=(2, 4), max_requests=60, warmup_requests=0, continue_after_failure=True
    )
    with running_stub(fail_every=3, fail_with="engine") as url:
        result, _ = await performance.run_test(test, SAMPLING, _endpoint(url))
    assert result.status == "failed"
    parts = str(result.error).split("; stopped early; ")
    for level, part in zip(("2", "4"), parts, strict=True):
        assert part.startswith(f"concurrency {level}: error rate ") and "% > 5 % (engine error: " in part
        assert _metric(result, "errors", concurrency=level, **{"class": "engine error"}) > 0


async def test_a_rate_level_over_budget_stops_sending():
    test = PerformanceTest(name="r", rate=(200.0,), max_requests=2000, warmup_requests=0)
    with running_stub(fail_every=2) as url:
        result, _ = await performance.run_test(test, SAMPLING, _endpoint(url))
        truth = _truth(url)
    assert result.status == "failed" and "stopped early" in str(result.error)
    assert truth["completed"] + truth["failed"] < 500  # 2,000 were scheduled


def test_kitt_run_says_the_level_failed_and_why_in_its_table_report_and_compare(tmp_path):
    """Tried as a new user would: a server that answers every fourth request with HTTP 503."""
    home, suite = tmp_path / "home", tmp_path / "s.yaml"
    test = "{kind: performance, name: t, concurrency: [4, 8], max_requests: 200, warmup_requests: 0}"
    suite.write_text(f"name: s\ntests:\n- {test}\n")
    with running_stub(fail_every=4) as url:
        args = ("-m", "stub", "-e", "vllm", "--runtime", "external", "--endpoint", url, "-s", str(suite))
        table = kitt(home, "run", *args, check=False)
        within = tmp_path / "within.yaml"
        within.write_text(f"name: w\ntests:\n- {test[:-1]}, max_error_rate: 0.5}}\n")
        ok = json.loads(kitt(home, "run", *args[:-1], str(within), "--json").stdout)
    assert table.returncode == 1
    assert "failed" in table.stdout and "HTTP 503: " in table.stdout  # the table's failed column
    assert "concurrency 4: error rate" in table.stdout and "> 5 % (HTTP 503: " in table.stdout
    runs = json.loads(kitt(home, "storage", "list", "--json").stdout)
    failed_run = next(r["run_id"] for r in runs if r["run_id"] != ok["run_id"])
    assert {r["status"] for r in runs} == {"failed", "succeeded"}
    report = tmp_path / "report.html"
    kitt(home, "report", failed_run, ok["run_id"], "-o", str(report))
    html = report.read_text()
    assert "Failed requests" in html and "HTTP 503: 50" in html  # the run within its budget: 50 of 200
    compared = kitt(home, "compare", failed_run, ok["run_id"], "--allow-invalid").stdout
    assert "error_rate mean (%)" in compared and "failed requests: A HTTP 503: " in compared
