"""What an agent reports, on AGENT_IN (`in.<agent>.<test id or "agent">`): typed, versioned, tagged.

Agents never write EVENTS. The ingestor checks each report against the test's assignment and turns it into
commands, so a report lands exactly like the facts `kitt run` records. `report_id` is the dedup key: it is
the message's `Nats-Msg-Id`, and the commands the ingestor sends derive their ids from it, so a report
delivered twice is applied once.
"""

from datetime import datetime
from typing import Annotated

import msgspec

from kitt.events import subjects
from kitt.events.bounds import Capacity, Count, Ident, Short, Text, Version
from kitt.events.ids import uuid7
from kitt.events.results import BenchmarkResult, Hardware, RunInfo
from kitt.events.states import FinalStatus
from kitt.events.tags import registry
from kitt.events.types import BenchmarkStarted, EngineReady

REPORT_VERSION = 1


class Report(msgspec.Struct, frozen=True, kw_only=True, tag_field="report", forbid_unknown_fields=True):
    report_id: Ident = msgspec.field(default_factory=uuid7)
    version: Version = REPORT_VERSION


class Registered(Report, frozen=True, tag="registered"):
    hardware: Hardware | None = None
    engines: Annotated[tuple[Short, ...], msgspec.Meta(max_length=64)] = ()
    kitt_version: Short | None = None
    capacity: Capacity = 1
    simulated: bool = False


class TestStartedReport(Report, frozen=True, tag="test_started"):
    __test__ = False
    test_id: Ident
    run_id: Ident
    simulated: bool = False


class RunStartedReport(Report, frozen=True, tag="run_started"):
    test_id: Ident
    run_id: Ident
    info: RunInfo


class RunProgressReport(Report, frozen=True, tag="run_progress"):
    test_id: Ident
    run_id: Ident
    event: EngineReady | BenchmarkStarted


class BenchmarkReport(Report, frozen=True, tag="benchmark"):
    test_id: Ident
    run_id: Ident
    result: BenchmarkResult


class RunFinishedReport(Report, frozen=True, tag="run_finished"):
    test_id: Ident
    run_id: Ident
    status: FinalStatus
    finished_at: datetime
    error: Text | None = None
    benchmarks: Count | None = None  # benchmark reports sent for the run before this (None: an older agent)


class TestFinishedReport(Report, frozen=True, tag="test_finished"):
    __test__ = False
    test_id: Ident
    status: FinalStatus
    run_id: Ident | None = None
    error: Text | None = None
    skipped: bool = False  # not run at all (`error` says why): the agent lacked what it needs


AnyReport = (
    Registered
    | TestStartedReport
    | RunStartedReport
    | RunProgressReport
    | BenchmarkReport
    | RunFinishedReport
    | TestFinishedReport
)
REPORT_TYPES = registry(AnyReport)
encode = msgspec.json.Encoder().encode
decode = msgspec.json.Decoder(AnyReport).decode


def subject(agent: str, report: Report) -> str:
    target = getattr(report, "test_id", None) or "agent"
    return subjects.report(agent, target)


def agent_of(subject_name: str) -> str:
    """The reporting agent, from the subject it published on (the only part an agent cannot forge)."""
    parts = subject_name.split(".")
    if len(parts) < 3 or parts[0] != "in":
        raise ValueError(f"not an agent report subject: {subject_name!r}")
    return subjects.token(parts[1], "agent")
