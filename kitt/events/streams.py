"""JetStream stream definitions (docs/architecture.md), and `apply`, which makes or updates each one."""

import dataclasses
from dataclasses import dataclass

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    RePublish,
    RetentionPolicy,
    StorageType,
    StoreCompression,
    StreamConfig,
    StreamSource,
    SubjectTransform,
)

from kitt.events import subjects

EVENTS = "EVENTS"
LOGS = "LOGS"
METRICS = "METRICS"
HB = "HB"
DISPATCH = "DISPATCH"
AGENT_IN = "AGENT_IN"
RECORDS = "RECORDS"
AGENT_RECORDS = "RECORDS_"  # + the agent's name: one stream per agent, its quota the stream's size
REPORTS_QUEUE = "queued"  # AGENT_IN stores every report of agent A on `in.A.queued`
QUOTA_ERROR = 10077  # JetStream's "maximum bytes/messages (per subject) exceeded" on a discard-new stream

DAY = 24 * 3600.0
RECORDS_CHUNK_LIMIT = 1024 * 1024  # a records chunk's largest size (writers cut them a little smaller)


@dataclass(frozen=True)
class StreamLimits:
    """Sizes that an operator may want to change; the defaults suit one box."""

    duplicate_window_s: float = 2 * 60.0
    logs_max_age_s: float = 14 * DAY
    logs_max_bytes: int = 2 * 1024**3
    metrics_max_age_s: float = 2 * DAY
    heartbeat_ttl_s: float = 90.0
    max_event_size: int = 1024 * 1024  # raw per-request records travel on RECORDS, never in an event
    max_records_chunk: int = RECORDS_CHUNK_LIMIT
    replicas: int = 1  # 3 on a three-node NATS cluster (`kitt streams apply --replicas 3`)
    # What one agent may make the server keep (docs/security.md): its records in all (KITT_AGENT_RECORDS_
    # QUOTA_GIB), one benchmark's chunks (x max_records_chunk bytes), and its reports not yet ingested.
    agent_records_bytes: int = 50 * 1024**3
    agent_benchmark_chunks: int = 4096
    agent_reports_pending: int = 1000


DEFAULT_LIMITS = StreamLimits()


def definitions(limits: StreamLimits = DEFAULT_LIMITS) -> list[StreamConfig]:
    return [dataclasses.replace(config, num_replicas=limits.replicas) for config in _definitions(limits)]


def _definitions(limits: StreamLimits) -> list[StreamConfig]:
    return [
        StreamConfig(
            name=EVENTS,
            description="KITT's source of truth: every domain event",
            subjects=["ev.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,
            deny_delete=True,
            deny_purge=True,
            duplicate_window=limits.duplicate_window_s,
            allow_direct=True,
            allow_atomic=True,
            max_msg_size=limits.max_event_size,
            republish=RePublish(src="ev.>", dest="live.ev.>"),
        ),
        StreamConfig(
            name=LOGS,
            description="engine and benchmark log lines, and campaigns' progress",
            subjects=["log.>", "clog.>"],
            max_age=limits.logs_max_age_s,
            max_bytes=limits.logs_max_bytes,
            compression=StoreCompression.S2,
            discard=DiscardPolicy.OLD,
        ),
        StreamConfig(
            name=METRICS,
            description="GPU memory and utilisation samples during runs",
            subjects=["metric.>"],
            max_age=limits.metrics_max_age_s,
            discard=DiscardPolicy.OLD,
        ),
        StreamConfig(
            name=HB,
            description="agent presence: the last heartbeat per agent",
            subjects=["hb.>"],
            max_msgs_per_subject=1,
            max_age=limits.heartbeat_ttl_s,
            allow_direct=True,
            discard=DiscardPolicy.OLD,
        ),
        StreamConfig(
            name=DISPATCH,
            description="per-agent work queues, sourced from dispatch_requested events",
            retention=RetentionPolicy.WORK_QUEUE,
            sources=[
                StreamSource(
                    name=EVENTS,
                    subject_transforms=[
                        SubjectTransform(
                            src="ev.agent.*.dispatch_requested", dest="dispatch.{{wildcard(1)}}.test"
                        ),
                        SubjectTransform(
                            src="ev.agent.*.dispatch_cancelled", dest="dispatch.{{wildcard(1)}}.cancel"
                        ),
                        SubjectTransform(
                            src="ev.agent.*.agent_settings_changed", dest="dispatch.{{wildcard(1)}}.settings"
                        ),
                    ],
                )
            ],
        ),
        StreamConfig(
            name=AGENT_IN,
            description="what agents report, before the ingestor validates it",
            subjects=["in.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            duplicate_window=limits.duplicate_window_s,
            # Each agent's reports are stored on one subject, so a per-subject limit is a per-agent one:
            # an agent that floods waits for its own backlog, never fills the disk or the others' queue.
            subject_transform=SubjectTransform(src="in.*.*", dest=f"in.{{{{wildcard(1)}}}}.{REPORTS_QUEUE}"),
            max_msgs_per_subject=limits.agent_reports_pending,
            discard=DiscardPolicy.NEW,
            discard_new_per_subject=True,
            max_msg_size=limits.max_event_size,
        ),
        _records(
            RECORDS,
            "benchmarks' per-request records, as chunks of JSON lines (part of the results)",
            "rec.>",
            limits,
        ),
    ]


def _records(name: str, description: str, subject: str, limits: StreamLimits) -> StreamConfig:
    """Records are kept like events: compressed, never deleted, a writer refused rather than history lost."""
    return StreamConfig(
        name=name,
        description=description,
        subjects=[subject],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        deny_delete=True,
        compression=StoreCompression.S2,
        duplicate_window=limits.duplicate_window_s,
        max_msg_size=limits.max_records_chunk,
        num_replicas=limits.replicas,
    )


def agent_records_stream(agent: str) -> str:
    return f"{AGENT_RECORDS}{subjects.token(agent, 'agent')}"


def agent_records(agent: str, limits: StreamLimits = DEFAULT_LIMITS) -> StreamConfig:
    """One agent's per-request records: kept like RECORDS (no deletes), up to the agent's quota; past it
    JetStream refuses the agent's writes (`QUOTA_ERROR`) and nobody else's."""
    return dataclasses.replace(
        _records(
            agent_records_stream(agent),
            f"agent {agent}'s per-request records, within its quota",
            subjects.agent_records(agent),
            limits,
        ),
        # A count of chunks, not max_bytes: JetStream reserves a stream's max_bytes on the server up front,
        # so per-agent byte limits would add up to more than the store holds with a few agents.
        max_msgs=max(1, limits.agent_records_bytes // limits.max_records_chunk),
        max_msgs_per_subject=limits.agent_benchmark_chunks,  # a subject is one benchmark's records
        discard_new_per_subject=True,
    )


async def ensure_agent_records(
    js: JetStreamContext, agent: str, limits: StreamLimits = DEFAULT_LIMITS
) -> str:
    """Make the agent's records stream, or bring its quota to `limits`."""
    return await _apply_one(js, agent_records(agent, limits))


async def apply(js: JetStreamContext, limits: StreamLimits = DEFAULT_LIMITS) -> list[str]:
    """Create every stream, or update it to this definition (agents' records streams to today's quota).
    Returns what was done, per stream."""
    done = [await _apply_one(js, config) for config in definitions(limits)]
    for name in await _names(js):
        if name.startswith(AGENT_RECORDS):
            done.append(await ensure_agent_records(js, name.removeprefix(AGENT_RECORDS), limits))
    return done


async def _names(js: JetStreamContext) -> list[str]:
    """Every stream's name (JetStream lists them a page at a time)."""
    names: list[str] = []
    while page := await js.streams_info(offset=len(names)):
        names += [info.config.name or "" for info in page]
    return names


async def _apply_one(js: JetStreamContext, config: StreamConfig) -> str:
    try:
        await js.stream_info(config.name or "")
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)
        return f"{config.name}: created"
    await js.update_stream(config)
    return f"{config.name}: up to date"


def quota_refusal(error: Exception) -> bool:
    """JetStream refused a write because a quota (a discard-new stream's limit) is full: waiting does not
    help (records), or helps only once the server has caught up (reports)."""
    return isinstance(error, nats.js.errors.APIError) and error.err_code == QUOTA_ERROR
