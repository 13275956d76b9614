"""Which load levels the client's self-check marked invalid, and how a run's status reads with them.

A level is invalid when the load generator, not the server, set the pace (`metrics.client_health`); its
`client_valid` metric is then 0. A run whose every benchmark finished is `succeeded` even so, and says
"succeeded, 1 level invalid" wherever its status is shown, so that no list passes it off as clean.
"""

from collections.abc import Iterable, Mapping

from kitt.events.results import BenchmarkResult

VALID_METRIC = "client_valid"  # 1 or 0, one per level, labelled like the level's other figures
LEVEL_KEYS = ("concurrency", "rate")


def level_name(labels: Mapping[str, str]) -> str:
    """A level as records name it (`storage.records.level_of`): `concurrency=4`, `rate=10 run 2`."""
    key = next((k for k in LEVEL_KEYS if k in labels), None)
    if key is None:
        return ""
    name = f"{key}={float(labels[key]):g}"
    run = int(labels.get("run", "0") or 0)
    return f"{name} run {run + 1}" if run > 0 else name


def invalid_levels(result: BenchmarkResult) -> list[str]:
    """The benchmark's invalid levels by name; a result from before the metric existed that says
    `invalid` counts as one unnamed level."""
    found = [level_name(m.labels) for m in result.metrics if m.name == VALID_METRIC and m.value == 0]
    if not found and result.status == "invalid":
        return [""]
    return found


def count(results: Iterable[BenchmarkResult]) -> int:
    return sum(len(invalid_levels(r)) for r in results)


def status_text(status: str, invalid: int) -> str:
    """`succeeded`, or `succeeded, 2 levels invalid`."""
    if not invalid:
        return status
    return f"{status}, {invalid} level{'s' if invalid != 1 else ''} invalid"
