"""How many of one agent's refused reports are recorded, one by one: the rest are only counted.

Every refusal recorded is an event, and EVENTS keeps everything forever: an agent that sends report after
report the ingestor must refuse would otherwise grow it without end. Past `limit` refusals within a
window, an agent's refusals are counted instead, and the count is said with its next refusal recorded.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

LIMIT = 100
WINDOW_S = 600.0


@dataclass
class _Window:
    began: float
    recorded: int = 0


@dataclass
class RefusalBudget:
    limit: int = LIMIT
    window_s: float = WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, _Window] = field(default_factory=dict)
    _unrecorded: dict[str, int] = field(default_factory=dict)

    def take(self, agent: str) -> int | None:
        """None: do not record this refusal (the agent's budget for the window is spent). Otherwise record
        it, saying that this many refusals of the agent before it went unrecorded."""
        now = self.clock()
        window = self._windows.get(agent)
        if window is None or now - window.began >= self.window_s:
            window = self._windows[agent] = _Window(began=now)
        if window.recorded >= self.limit:
            self._unrecorded[agent] = self._unrecorded.get(agent, 0) + 1
            return None
        window.recorded += 1
        return self._unrecorded.pop(agent, 0)

    def unrecorded(self, agent: str) -> int:
        return self._unrecorded.get(agent, 0)
