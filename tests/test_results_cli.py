"""`kitt results view` and `kitt compare` as a user runs them, on runs imported with their raw records."""

import csv
import json
import random
from datetime import timedelta

import msgspec
import pyarrow.parquet as pq

from kitt.bench import metrics
from kitt.bench.columns import RecordColumns
from kitt.bench.records import RequestRecord
from kitt.events.results import BenchmarkResult
from kitt.storage import documents
from tests import factories
from tests.test_cli import kitt


def _run(run_id: str, ttft_ms: float, seed: int):
    """A run whose one level holds 300 requests with TTFTs around `ttft_ms` and 10 ms between tokens."""
    rng = random.Random(seed)
    samples, kept = [], []
    for i in range(300):
        ttft = rng.gauss(ttft_ms, 5) / 1000
        chunks = [ttft + 0.01 * k for k in range(8)]
        record = RequestRecord(
            index=i,
            worker=0,
            start=i * 0.02,
            chunk_offsets=chunks,
            end=chunks[-1] + 0.001,
            output_tokens=8,
            prompt_tokens=16,
            token_source="usage",
        )
        samples.append(record.to_sample(concurrency=4.0, run=0))
        kept.append(record)
    labels = {"concurrency": "4", "run": "0"}
    found = metrics.serving_metrics(RecordColumns.of(kept), concurrency=4, slo=None, labels=labels)
    result = BenchmarkResult(
        name="latency",
        kind="performance",
        started_at=factories.T0,
        finished_at=factories.T0 + timedelta(seconds=10),
        metrics=tuple(found),
        samples=tuple(samples),
    )
    return msgspec.structs.replace(factories.document(run_id), benchmarks=(result,))


def test_views_and_an_ab_verdict_from_imported_records(tmp_path):
    home = tmp_path / "home"
    base, noise, slower = _run("base", 100, 1), _run("noise", 100, 2), _run("slower", 130, 3)
    file = tmp_path / "runs.json"
    file.write_bytes(documents.dumps([base, noise, slower]))
    kitt(home, "storage", "import", str(file))

    # The records went to RECORDS on import and come back whole on export.
    [exported] = json.loads(kitt(home, "storage", "export", "base").stdout)
    assert exported["benchmarks"][0]["samples"] == [dict(s) for s in base.benchmarks[0].samples]

    # Flat, for notebooks: one row per metric with the level in a column of its own.
    kitt(home, "storage", "export", "base", "--format", "csv", "-o", str(tmp_path / "runs.csv"))
    csv_rows = list(csv.DictReader((tmp_path / "runs.csv").open()))
    assert [r["run_id"] for r in csv_rows] == ["base"] * len(base.benchmarks[0].metrics)
    kitt(home, "storage", "export", "--format", "parquet", "-o", str(tmp_path / "runs.parquet"))
    assert pq.read_table(tmp_path / "runs.parquet").num_rows == len(csv_rows) * 3
    refused = kitt(home, "storage", "export", "--format", "parquet", check=False)
    assert refused.returncode == 1 and "give -o FILE" in refused.stderr

    [level] = json.loads(kitt(home, "results", "view", "base", "--as", "guidellm", "--json").stdout)
    assert (level["benchmark"], level["level"], level["view"]) == ("latency", "concurrency=4", "guidellm")
    figures = {(f["name"], f["stat"]): f["value"] for f in level["figures"]}
    assert figures[("successful_requests", None)] == 300
    assert abs(figures[("inter_token_latency_ms", "mean")] - 10.0) < 0.01  # (last - first) / (tokens - 1)
    table = kitt(home, "results", "view", "base", "--as", "vllm").stdout
    assert "latency concurrency=4 as vllm" in table and "tpot" in table

    same = kitt(home, "compare", "base", "noise", "--fail-on-regression", "--json")
    verdicts = {
        (d["metric"], d["stat"]): d["verdict"] for d in json.loads(same.stdout)["levels"][0]["differences"]
    }
    assert verdicts[("ttft", "p50")] == "same"

    worse = kitt(home, "compare", "base", "slower", "--metric", "ttft", "--fail-on-regression", check=False)
    assert worse.returncode == 1 and "significant regression" in worse.stderr
    assert "worse" in worse.stdout and "ttft p50 (ms)" in worse.stdout

    # One self-contained file: inline SVG charts and style, nothing fetched.
    kitt(home, "report", "base", "slower", "-o", str(tmp_path / "ab.html"))
    html = (tmp_path / "ab.html").read_text()
    assert html.count("<svg") >= 4 and "Pareto front" in html and "cumulative distribution" in html
    assert "A/B: slower against base" in html and "<strong>worse</strong>" in html
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert "https://" not in html and html.count("http://") == html.count(
        'xmlns="http://www.w3.org/2000/svg"'
    )
    kitt(home, "report", "base", "-o", str(tmp_path / "one.html"))
    assert "A/B" not in (tmp_path / "one.html").read_text()

    missing = kitt(home, "compare", "base", "nope", check=False)
    assert missing.returncode == 1 and "no run 'nope' in KARR" in missing.stderr
    bad = kitt(home, "results", "view", "base", "--as", "genai-perf", check=False)
    assert bad.returncode == 2 and "'genai-perf' is not one of" in bad.stderr
