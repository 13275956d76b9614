"""Charts stay readable with crowded data: tick labels never overlap (thinned, not drawn over each other),
a percentile axis spreads p95, p99 and p99.9 apart, and legends wrap instead of being cut. Here the boxes
are the renderer's own generous estimate; `tests/test_browser.py` measures the same charts in Chromium."""

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from itertools import combinations

from markupsafe import Markup

from kitt.charts import figures, svg
from kitt.events.results import BenchmarkResult, Metric, ResultDocument
from tests import factories

PERCENTILES = ("p50", "p90", "p95", "p99", "p99.9")
LEVELS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512, 1024)
LONG = "vllm ac2203 load concurrency sweep with a name far longer than any legend line"


def crowded_documents() -> list[ResultDocument]:
    """Runs with 16 levels (1 … 1024: the small ones bunch up on a linear axis), five latency
    percentiles each, TTFTs a few ms apart, and benchmark names longer than a legend line."""
    docs = []
    for n, engine in enumerate(("vllm", "llama_cpp")):
        metrics = []
        for level in LEVELS:
            labels = {"concurrency": str(level), "run": "0"}
            metrics.append(Metric(name="output_throughput", value=100.0 * level**0.5 + n, labels=labels))
            for i, p in enumerate(PERCENTILES):
                metrics.append(
                    Metric(
                        name="ttft",
                        value=10.6 + i * 2.1 + level * 0.01,
                        unit="ms",
                        percentile=p,
                        labels=labels,
                    )
                )
            metrics.append(Metric(name="ttft", value=9.8, unit="ms", labels={**labels, "stat": "min"}))
            metrics.append(Metric(name="ttft", value=25.9 + n, unit="ms", labels={**labels, "stat": "max"}))
            for name, unit, value in (
                ("engine_requests_running", "requests", min(level, 256)),
                ("engine_requests_waiting", "requests", max(0, level - 256)),
                ("engine_generation_tokens", "tok/s", 90.0 * level**0.5),
                ("engine_kv_cache_usage", "%", min(100.0, level / 4)),
            ):
                for stat, scale in (("mean", 1.0), ("max", 1.2)):
                    metrics.append(
                        Metric(name=name, value=value * scale, unit=unit, labels={**labels, "stat": stat})
                    )
        bench = BenchmarkResult(name=f"{LONG} {n}", kind="performance", metrics=tuple(metrics))
        doc = factories.document(f"run-{engine}-ac2203")
        info = doc.info.__class__(
            **{**{f: getattr(doc.info, f) for f in doc.info.__struct_fields__}, "engine": engine}
        )
        finished = factories.T0 + timedelta(seconds=60)
        docs.append(ResultDocument(run_id=doc.run_id, info=info, finished_at=finished, benchmarks=(bench,)))
    return docs


def charts() -> list[Markup]:
    docs = crowded_documents()
    found = [
        figures.throughput(docs, per_run=True),
        figures.latency_vs_load(docs),
        figures.cdf_from_percentiles(docs[0]),
        figures.pareto(docs),
        *figures.latency_distributions(docs[0]),
        *figures.engine_vs_load(docs),
        svg.bar_chart(
            "Crowded bars",
            [f"category number {i}" for i in range(24)],
            [svg.Series("a", [(float(i), float(i)) for i in range(24)])],
            y_label="x",
        ),
    ]
    return [c for c in found if c is not None]


def _svg(chart: Markup) -> ET.Element:
    body = re.search(r"<svg.*</svg>", str(chart), re.S)
    assert body is not None
    return ET.fromstring(body.group(0))


def _tick_boxes(root: ET.Element) -> list[tuple[float, float, float, float, str]]:
    boxes = []
    for text in root.iter("{http://www.w3.org/2000/svg}text"):
        if text.get("class") != "tick":
            continue
        label, x, y = "".join(text.itertext()), float(text.get("x", 0)), float(text.get("y", 0))
        width = len(label) * svg.CHAR_W
        left = {"middle": x - width / 2, "end": x - width}.get(text.get("text-anchor", ""), x)
        boxes.append((left, y - 10, left + width, y + 3, label))  # an 11 px line, ascent and descent
    return boxes


def test_no_two_tick_labels_of_a_crowded_chart_touch():
    rendered = charts()
    assert len(rendered) >= 6
    for chart in rendered:
        boxes = _tick_boxes(_svg(chart))
        assert len(boxes) >= 3, chart  # thinned, not emptied
        for a, b in combinations(boxes, 2):
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, f"{a[4]!r} and {b[4]!r} overlap in {_svg(chart).get('aria-label')}"


def test_the_engines_own_figures_are_drawn_against_the_load():
    one = figures.engine_vs_load(crowded_documents()[:1])
    titles = [_svg(c).findtext(".//{*}title") or str(c) for c in one]
    assert len(one) == 3
    for title, wanted in zip(
        titles, ("requests running and waiting", "tokens per second", "KV-cache usage"), strict=True
    ):
        assert wanted in title
    running = str(one[0])
    assert f"{LONG} 0 requests running mean" in running and "requests waiting max" in running
    assert "ac2203" in str(figures.engine_vs_load(crowded_documents())[0])  # comparing: runs named
    assert figures.engine_vs_load([factories.document("run-none")]) == []


def test_a_percentile_axis_spreads_the_tail():
    [ttft, *_] = figures.latency_distributions(crowded_documents()[0])
    # the x axis's labels: the y axis's are end-anchored left of the plot
    at = {label: (left + right) / 2 for left, top, right, _, label in _tick_boxes(_svg(ttft)) if top > 250}
    assert {"50", "90", "99", "99.9"} <= set(at)  # 95 may be thinned: it sits between 90 and 99
    decade = at["99"] - at["90"]
    assert abs((at["99.9"] - at["99"]) - decade) < 1  # each decade of the tail as wide as the last
    assert decade > 80 and at["90"] - at["50"] > 0.6 * decade  # not piled up at the right


def test_legends_wrap_and_keep_every_character():
    [chart] = [c for c in charts() if _svg(c).get("aria-label") == "Throughput vs load"]
    root = _svg(chart)
    legends = [t for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "legend"]
    names = [" ".join(s.text or "" for s in t) for t in legends]
    assert all(len(s.text or "") <= svg.LEGEND_CHARS for t in legends for s in t)
    assert names == ["vllm ac2203", "llama_cpp ac2203"]
    wrapped = _svg(figures.latency_distributions(crowded_documents()[0])[0])
    lines = [
        [s.text for s in t]
        for t in wrapped.iter("{http://www.w3.org/2000/svg}text")
        if t.get("class") == "legend"
    ]
    assert len(lines[0]) > 1 and " ".join(lines[0]).startswith(LONG)  # wrapped onto lines, nothing cut


def test_a_legend_longer_than_the_chart_says_how_many_more():
    many = [svg.Series(f"{LONG} {i}", [(1.0, float(i))]) for i in range(12)]
    root = _svg(svg.line_chart("many", many, x_label="x", y_label="y"))
    legends = [
        "".join(t.itertext())
        for t in root.iter("{http://www.w3.org/2000/svg}text")
        if t.get("class") == "legend"
    ]
    assert legends[-1].startswith("… ") and legends[-1].endswith(" more")
    shown = len(legends) - 1
    assert legends[-1] == f"… {12 - shown} more"
