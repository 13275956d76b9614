"""Failed requests sorted into classes, and the budget a level may spend on them.

A level's records say why each failed request failed, in words (`HTTP 503: …`, `no complete response
within 300s`, `connection closed mid-response`, `malformed SSE event …`, `server error in stream: …`).
`classify` names the class a user acts on: the server refused (`HTTP 503`, one class per status), it was
too slow (`timeout`), the connection broke (`connection`), the stream was not the dialect's
(`malformed stream`), the engine said it failed (`engine error`), or an answer with no token
(`no tokens`). A level spends at most `max_error_rate` of its measured requests on them; `Budget` is what
a load-generator worker keeps to stop a level early once it has clearly spent more.
"""

import math
import re
from collections import Counter

_HTTP = re.compile(r"^HTTP (\d{3})\b")
# (prefix of the record's error, class): the worker's and the dialects' own words
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("no complete response within", "timeout"),
    ("connection closed", "connection"),
    ("cannot connect", "connection"),
    ("no HTTP response", "connection"),
    ("malformed", "malformed stream"),
    ("server error in stream", "engine error"),
    ("the response carried no tokens", "no tokens"),
)
MIN_DECIDED = 20  # measured requests before a worker may stop a level for its errors
Z = 3.0  # how sure it must be: the rate's lower bound at 3 standard errors (Wilson) above the budget


def classify(error: str) -> str:
    found = _HTTP.match(error)
    if found:
        return f"HTTP {found.group(1)}"
    for prefix, name in _PREFIXES:
        if error.startswith(prefix):
            return name
    return "other"


def describe(counts: Counter[str]) -> str:
    """`HTTP 503: 210, timeout: 20`, the largest class first."""
    return ", ".join(f"{name}: {count}" for name, count in counts.most_common())


def wilson_low(errors: int, total: int, z: float = Z) -> float:
    """The lower bound of the error rate's Wilson score interval."""
    if total == 0:
        return 0.0
    p = errors / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return max(0.0, (centre - spread) / (1 + z * z / total))


class Budget:
    """A worker's count of its measured requests and their failures: `blown` once the level has clearly
    failed more than `max_rate` of them (not on the first unlucky few)."""

    def __init__(self, max_rate: float | None) -> None:
        self.max_rate = max_rate
        self.total = 0
        self.errors = 0
        self.blown = False

    def count(self, failed: bool) -> None:
        self.total += 1
        self.errors += failed
        if self.max_rate is not None and self.errors and self.total >= MIN_DECIDED and not self.blown:
            self.blown = wilson_low(self.errors, self.total) > self.max_rate
