"""Subject names. One place, so nothing builds a subject by hand (a test holds the rest of the tree to it;
`streams.py`, which defines the subject space itself, is the only other place that names subjects)."""

import re

from kitt.events.types import AGGREGATES, EVENT_TYPES

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

EVENTS_PREFIX = "ev"
LIVE_PREFIX = "live"
COMMAND_PREFIX = "kitt.cmd"

ALL_EVENTS = f"{EVENTS_PREFIX}.>"
ALL_HEARTBEATS = "hb.*"
ALL_REPORTS = "in.>"  # every agent's reports (AGENT_IN)
RECORDS_PREFIX = "rec"  # records KITT itself writes (`kitt run`, imports): the RECORDS stream
AGENT_RECORDS_PREFIX = "arec"  # records an agent writes: its own stream, under its own quota
CAMPAIGN_LOG_PREFIX = "clog"

HEADER_TYPE = "Kitt-Event-Type"
HEADER_VERSION = "Kitt-Event-Version"


class InvalidSubjectToken(ValueError):
    pass


def token(value: str, what: str = "id") -> str:
    """A subject token must not contain dots, spaces or wildcards: ids and names are checked here."""
    if not _TOKEN.match(value):
        raise InvalidSubjectToken(
            f"invalid {what} {value!r}: use 1-128 letters, digits, '-' or '_' (no dots, spaces or wildcards)"
        )
    return value


def event(aggregate: str, aggregate_id: str, event_type: str) -> str:
    return f"{EVENTS_PREFIX}.{aggregate}.{token(aggregate_id)}.{event_type}"


def aggregate_filter(aggregate: str, aggregate_id: str) -> str:
    return f"{EVENTS_PREFIX}.{aggregate}.{token(aggregate_id)}.>"


def aggregate_type_filter(aggregate: str) -> str:
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}")
    return f"{EVENTS_PREFIX}.{aggregate}.>"


def _event_type(aggregate: str, event_type: str) -> None:
    known = EVENT_TYPES.get(event_type)
    if known is None or known.aggregate != aggregate:
        raise ValueError(f"no event {event_type!r} on aggregate {aggregate!r}")


def of_type(aggregate: str, event_type: str) -> str:
    """Every `event_type` event of any `aggregate` (a consumer's filter)."""
    _event_type(aggregate, event_type)
    return f"{EVENTS_PREFIX}.{aggregate}.*.{event_type}"


def live_of_type(aggregate: str, event_type: str) -> str:
    """The same, as EVENTS republishes committed events for core subscribers (`live.ev.…`)."""
    return f"{LIVE_PREFIX}.{of_type(aggregate, event_type)}"


def command(name: str) -> str:
    return f"{COMMAND_PREFIX}.{name}"


def log(agent: str, test_id: str) -> str:
    return f"log.{token(agent, 'agent')}.{token(test_id, 'test id')}"


def metric(agent: str, name: str) -> str:
    return f"metric.{token(agent, 'agent')}.{token(name, 'metric')}"


def heartbeat(agent: str) -> str:
    return f"hb.{token(agent, 'agent')}"


def test_logs(test_id: str, agent: str) -> str:
    """A test's log lines, as its assigned agent wrote them: another agent may publish on its own
    `log.OTHER.<test id>`, and nothing reads that as this test's log."""
    return f"log.{token(agent, 'agent')}.{token(test_id, 'test id')}"


def campaign_log(campaign_id: str) -> str:
    """A campaign's progress lines (LOGS; written by the campaign manager only)."""
    return f"{CAMPAIGN_LOG_PREFIX}.{token(campaign_id, 'campaign id')}"


def agent_logs(agent: str) -> str:
    return f"log.{token(agent, 'agent')}.>"


def records(agent: str, run_id: str, benchmark: int) -> str:
    """One benchmark's per-request records as KITT writes them: `rec.<agent>.<run>.<n>`, n counting the
    run's benchmarks (`agent` names where the run ran: `local`, or `imported`)."""
    return f"{RECORDS_PREFIX}.{token(agent, 'agent')}.{token(run_id, 'run id')}.{int(benchmark)}"


def telemetry(records_subject: str) -> str:
    """A benchmark's per-second telemetry, beside its records: `<records subject>.telemetry`."""
    return f"{records_subject}.telemetry"


def agent_run_records(agent: str, run_id: str, benchmark: int) -> str:
    """One benchmark's records as an agent writes them: `arec.<agent>.<run>.<n>`, in the agent's stream."""
    return f"{AGENT_RECORDS_PREFIX}.{token(agent, 'agent')}.{token(run_id, 'run id')}.{int(benchmark)}"


def records_of_run(agent: str, run_id: str) -> str:
    return f"{AGENT_RECORDS_PREFIX}.{token(agent, 'agent')}.{token(run_id, 'run id')}."


def agent_records(agent: str) -> str:
    return f"{AGENT_RECORDS_PREFIX}.{token(agent, 'agent')}.>"


def agent_metrics(agent: str) -> str:
    return f"metric.{token(agent, 'agent')}.>"


def dispatch(agent: str) -> str:
    return f"dispatch.{token(agent, 'agent')}.>"


def dispatch_work(agent: str) -> str:
    """The agent's queue of tests (DISPATCH sources `dispatch_requested` here)."""
    return f"dispatch.{token(agent, 'agent')}.test"


def dispatch_control(agent: str) -> tuple[str, str]:
    """The agent's control queue: cancellations and settings."""
    name = token(agent, "agent")
    return f"dispatch.{name}.cancel", f"dispatch.{name}.settings"


def agent_inbound(agent: str) -> str:
    """What an agent may publish reports on: exactly `in.<agent>.<target>`, the form AGENT_IN's transform
    folds into the agent's one queue subject (a longer subject would escape its quota)."""
    return f"in.{token(agent, 'agent')}.*"


def report(agent: str, target: str) -> str:
    """Where an agent reports about `target` (a test id, or `agent` for itself)."""
    return f"in.{token(agent, 'agent')}.{token(target, 'test id')}"
