"""A campaign's rollup: each headline figure across its models x engines, one bar per engine."""

from pathlib import PurePath

from markupsafe import Markup

from kitt.charts.svg import Series, bar_chart
from kitt.storage.campaigns import CampaignDetail

HEADLINES = (
    ("output_throughput", "Output throughput (best level)", "tokens/s"),
    ("ttft_p99", "TTFT p99 (worst level)", "ms"),
    ("score", "Quality score", "fraction"),
)


def rollup(detail: CampaignDetail) -> list[Markup]:
    """One bar chart per headline figure that any item reported: models across, engines as series."""
    done = [i for i in detail.items if i.status == "succeeded" and i.figures]
    models = sorted({i.model for i in done})
    engines = sorted({i.engine for i in done})
    charts: list[Markup] = []
    for key, title, unit in HEADLINES:
        series = []
        for engine in engines:
            mine = [i for i in done if i.engine == engine and key in i.figures]
            points = [(float(models.index(i.model)), i.figures[key]) for i in mine]
            if points:
                series.append(Series(engine, tuple(points)))
        if series:
            names = [PurePath(m).name for m in models]
            charts.append(bar_chart(title, names, series, y_label=unit))
    return charts
