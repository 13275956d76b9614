"""Five-field cron expressions (min hour day-of-month month day-of-week), evaluated in UTC.

`*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`, and month/day names. As in cron, when both
day fields are restricted a day matching either fires.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_NAMES = {
    3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
}
_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
_FIELDS = ["minute", "hour", "day of month", "month", "day of week"]
MAX_SEARCH = timedelta(days=366 * 5)


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    def matches(self, at: datetime) -> bool:
        hit = at.minute in self.minutes and at.hour in self.hours and at.month in self.months
        return hit and self._day_ok(at)

    def next_after(self, at: datetime) -> datetime:
        """The first slot strictly after `at` (UTC, whole minutes)."""
        t = at.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + MAX_SEARCH
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_ok(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise CronError(f"cron expression {self.text!r} never fires")

    def _day_ok(self, t: datetime) -> bool:
        day = t.day in self.days
        weekday = (t.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday

    def slots_between(self, after: datetime, until: datetime, limit: int = 1000) -> list[datetime]:
        """Every slot in (after, until], at most `limit` of them (the latest)."""
        found: list[datetime] = []
        t = after
        while True:
            t = self.next_after(t)
            if t > until:
                return found[-limit:]
            found.append(t)


def _value(text: str, index: int) -> int:
    names = _NAMES.get(index)
    if names and text.lower()[:3] in names and not text.isdigit():
        return names.index(text.lower()[:3]) + (1 if index == 3 else 0)
    try:
        return int(text)
    except ValueError:
        raise CronError(f"{_FIELDS[index]}: {text!r} is not a number") from None


def _field(text: str, index: int) -> frozenset[int]:
    low, high = _RANGES[index]
    out: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = _value(step_text, index) if step_text else 1
        if step < 1:
            raise CronError(f"{_FIELDS[index]}: step {step_text!r} must be at least 1")
        if body == "*":
            start, end = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            start, end = _value(a, index), _value(b, index)
        else:
            start = _value(body, index)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise CronError(f"{_FIELDS[index]}: {part!r} is outside {low}-{high}")
        out.update(range(start, end + 1, step))
    if index == 4 and 7 in out:
        out = (out - {7}) | {0}
    return frozenset(out)


def parse(text: str) -> Cron:
    fields = text.split()
    if len(fields) != 5:
        raise CronError(
            f"cron expression {text!r} must have 5 fields (minute hour day-of-month month day-of-week)"
        )
    try:
        values = [_field(f, i) for i, f in enumerate(fields)]
    except CronError as exc:
        raise CronError(f"cron expression {text!r}: {exc}") from None
    minutes, hours, days, months, weekdays = values
    cron = Cron(text, minutes, hours, days, months, weekdays, fields[2] == "*", fields[4] == "*")
    cron.next_after(datetime(2000, 1, 1, tzinfo=UTC))  # "0 0 31 2 *" never fires: refuse it now
    return cron
