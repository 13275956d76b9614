"""A campaign as its manager sees it: a fold of its events, and the next steps it calls for (pure).

The manager rebuilds this from EVENTS after a restart, so what it does next depends only on what was
recorded: an item recorded as dispatched is requested again under the same test id (a no-op when it was),
and an item recorded as finished is never run again.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kitt.events import types as ev
from kitt.events.ids import derived_id
from kitt.events.states import CampaignOutcome, FinalStatus

MAX_BACKOFF_S = 600.0


def test_command_id(campaign_id: str, key: str, attempt: int) -> str:
    """The RequestTest command of one attempt: its test id derives from it, so it is known in advance."""
    return derived_id("campaign-test", campaign_id, key, str(attempt))


def test_id_for(campaign_id: str, key: str, attempt: int) -> str:
    return derived_id("test", test_command_id(campaign_id, key, attempt))


@dataclass
class ItemState:
    item: ev.CampaignItem
    attempt: int = 0  # attempts dispatched so far
    test_id: str | None = None
    dispatched_at: datetime | None = None
    retry_at: datetime | None = None  # waiting for the next attempt
    failed_attempt: int = 0  # the latest attempt known to have failed
    status: FinalStatus | None = None  # final
    skipped: bool = False  # final, and never run (the agent lacked disk)
    seq: int = 0  # the item's last event applied

    @property
    def in_flight(self) -> bool:
        return self.status is None and self.attempt > 0 and self.failed_attempt < self.attempt


@dataclass
class CampaignState:
    campaign_id: str
    name: str
    spec: ev.CampaignSpec
    items: dict[str, ItemState]
    launched: bool = False
    paused: bool = False
    cancelled: bool = False
    completed: bool = False
    seq: int = 0  # the last event applied
    tests: dict[str, str] = field(default_factory=dict)  # test id -> item key

    @classmethod
    def created(cls, campaign_id: str, event: ev.CampaignCreated) -> "CampaignState":
        items = {i.key: ItemState(i) for i in event.items}
        return cls(campaign_id, event.name, event.spec, items)

    @property
    def settled(self) -> bool:
        """Nothing more will happen to it: completed, or cancelled with every item final."""
        return self.completed or (self.cancelled and all(s.status is not None for s in self.items.values()))

    def apply(self, event: ev.Event, at: datetime, seq: int) -> None:
        """Fold one event in, once: each aggregate (the campaign, each item) has one writer, so its
        sequence only grows, and an event at or below it was folded already."""
        if isinstance(event, ev.CampaignItemDispatched | ev.CampaignItemRetrying | ev.CampaignItemFinished):
            state = self.items.get(event.key)
            if state is not None and seq > state.seq:
                state.seq = seq
                _apply_item(self, state, event, at)
            return
        if seq <= self.seq:
            return
        self.seq = seq
        if isinstance(event, ev.CampaignLaunched):
            self.launched = True
        elif isinstance(event, ev.CampaignPaused | ev.CampaignResumed):
            self.paused = isinstance(event, ev.CampaignPaused)
        elif isinstance(event, ev.CampaignCancelled):
            self.cancelled = True
        elif isinstance(event, ev.CampaignCompleted):
            self.completed = True


def _apply_item(
    campaign: CampaignState,
    state: ItemState,
    event: ev.CampaignItemDispatched | ev.CampaignItemRetrying | ev.CampaignItemFinished,
    at: datetime,
) -> None:
    if isinstance(event, ev.CampaignItemDispatched):
        state.attempt, state.test_id, state.dispatched_at, state.retry_at = (
            event.attempt,
            event.test_id,
            at,
            None,
        )
        campaign.tests[event.test_id] = state.item.key
    elif isinstance(event, ev.CampaignItemRetrying):
        state.failed_attempt, state.retry_at = event.attempt, event.not_before
    else:
        state.status, state.retry_at, state.skipped = event.status, None, event.skipped
        state.failed_attempt = max(state.failed_attempt, event.attempt)


# --- what to do next ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dispatch:
    key: str
    attempt: int
    agent: str


@dataclass(frozen=True)
class Request:  # (re)request the test of an attempt already recorded as dispatched
    key: str
    attempt: int


@dataclass(frozen=True)
class TimedOut:
    key: str
    attempt: int
    test_id: str


@dataclass(frozen=True)
class NotRun:  # a cancelled campaign's item that was never started
    key: str


@dataclass(frozen=True)
class Complete:
    status: CampaignOutcome
    succeeded: int
    failed: int


Action = Dispatch | Request | TimedOut | NotRun | Complete


def backoff(spec: ev.CampaignSpec, failed_attempt: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_S, spec.retry_backoff_s * 2 ** (failed_attempt - 1)))


def outcome(items: list[ItemState]) -> Complete:
    """Succeeded only when every item that ran succeeded (skipped items neither help nor fail it); failed
    when none succeeded."""
    succeeded = sum(s.status == "succeeded" for s in items)
    failed = sum(s.status != "succeeded" and not s.skipped for s in items)
    status: CampaignOutcome = (
        "failed" if not succeeded else "completed_with_failures" if failed else "succeeded"
    )
    return Complete(status, succeeded, failed)


def next_actions(campaign: CampaignState, now: datetime) -> list[Action]:
    if not campaign.launched or campaign.completed:
        return []
    items = sorted(campaign.items.values(), key=lambda s: s.item.key)
    timeout = timedelta(seconds=campaign.spec.test_timeout_s)
    actions: list[Action] = [
        TimedOut(s.item.key, s.attempt, s.test_id or "")
        for s in items
        if s.in_flight and s.dispatched_at is not None and now - s.dispatched_at > timeout
    ]
    if campaign.cancelled:
        return actions + [NotRun(s.item.key) for s in items if s.status is None and not s.in_flight]
    if all(s.status is not None for s in items):
        return [outcome(items)]
    if campaign.paused:
        return actions
    busy = {s.item.agent for s in items if s.in_flight or (s.retry_at is not None and s.status is None)}
    for state in items:
        if state.status is not None:
            continue
        lane = state.item.agent
        if state.retry_at is not None and state.retry_at <= now and state.failed_attempt == state.attempt:
            busy.discard(lane)  # its own wait is over: the lane is this item's again
            actions.append(Dispatch(state.item.key, state.attempt + 1, lane))
            busy.add(lane)
        elif state.attempt == 0 and lane not in busy:
            actions.append(Dispatch(state.item.key, 1, lane))
            busy.add(lane)
    return actions
