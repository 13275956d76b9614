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

EVENTS = "EVENTS"
LOGS = "LOGS"
METRICS = "METRICS"
HB = "HB"
DISPATCH = "DISPATCH"
AGENT_IN = "AGENT_IN"
RECORDS = "RECORDS"

DAY = 24 * 3600.0


@dataclass(frozen=True)
class StreamLimits:
    """Sizes that an operator may want to change; the defaults suit one box."""

    duplicate_window_s: float = 2 * 60.0
    logs_max_age_s: float = 14 * DAY
    logs_max_bytes: int = 2 * 1024**3
    metrics_max_age_s: float = 2 * DAY
    heartbeat_ttl_s: float = 90.0
    max_event_size: int = 1024 * 1024  # raw per-request records travel on RECORDS, never in an event
    max_records_chunk: int = 1024 * 1024
    replicas: int = 1  # 3 on a three-node NATS cluster (`kitt streams apply --replicas 3`)


def definitions(limits: StreamLimits = StreamLimits()) -> list[StreamConfig]:
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
        ),
        StreamConfig(
            name=RECORDS,
            description="benchmarks' per-request records, as chunks of JSON lines (part of the results)",
            subjects=["rec.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,
            deny_delete=True,
            compression=StoreCompression.S2,
            duplicate_window=limits.duplicate_window_s,
            max_msg_size=limits.max_records_chunk,
        ),
    ]


async def apply(js: JetStreamContext, limits: StreamLimits = StreamLimits()) -> list[str]:
    """Create every stream, or update it to this definition. Returns what was done, per stream."""
    done: list[str] = []
    for config in definitions(limits):
        try:
            await js.stream_info(config.name or "")
        except nats.js.errors.NotFoundError:
            await js.add_stream(config)
            done.append(f"{config.name}: created")
            continue
        await js.update_stream(config)
        done.append(f"{config.name}: up to date")
    return done
