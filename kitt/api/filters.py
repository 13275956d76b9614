"""Jinja filters for the UI: numbers, durations, sizes and times as people read them."""

from datetime import datetime
from urllib.parse import quote as _quote

NONE = "\u2013"  # an en dash: no value


def num(value: float | int | None) -> str:
    if value is None:
        return NONE
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.1f}"
    if magnitude >= 1:
        return f"{value:.3g}" if magnitude < 10 else f"{value:.2f}"
    return f"{value:.4g}"


def seconds(value: float | None) -> str:
    if value is None:
        return NONE
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def size(value: int | None) -> str:
    if not value:
        return NONE
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"


def mib(value: int | None) -> str:
    return size(value * 1024 * 1024) if value else NONE


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else NONE


def quote(value: str) -> str:
    return _quote(value, safe="/")


FILTERS = {"num": num, "seconds": seconds, "size": size, "mib": mib, "when": when}
