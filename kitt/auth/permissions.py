"""What an agent may do on NATS: its own subjects, its own DISPATCH consumers' API, its own inbox."""

from kitt.events import streams, subjects

WORK_PREFIX = "agent-work-"
CONTROL_PREFIX = "agent-control-"


def consumers(agent: str) -> tuple[str, str]:
    """The agent's durable consumers on DISPATCH: its work queue and its control (cancel) queue.

    The agent's name comes last, after a prefix that differs between the two kinds, so no agent's work
    consumer can be named like another agent's control consumer (`X` and `X-control` once collided).
    """
    subjects.token(agent, "agent")
    return f"{WORK_PREFIX}{agent}", f"{CONTROL_PREFIX}{agent}"


def agent_of_consumer(name: str) -> str | None:
    """The agent a DISPATCH consumer belongs to (None: not an agent's)."""
    for prefix in (WORK_PREFIX, CONTROL_PREFIX):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return None


def legacy_consumers(agent: str) -> tuple[str, str]:
    """The names before 0.1.1 (`agent-X`, `agent-X-control`): removed when the new ones are made."""
    return f"agent-{agent}", f"agent-{agent}-control"


def inbox_prefix(agent: str) -> str:
    return f"_INBOX.{subjects.token(agent, 'agent')}"


def agent_permissions(agent: str) -> dict[str, dict[str, list[str]]]:
    work, control = consumers(agent)
    publish = [
        subjects.agent_inbound(agent),
        subjects.agent_logs(agent),
        subjects.agent_metrics(agent),
        subjects.agent_records(agent),
        subjects.heartbeat(agent),
    ]
    for consumer in (work, control):
        publish += [
            f"$JS.API.CONSUMER.INFO.{streams.DISPATCH}.{consumer}",
            f"$JS.API.CONSUMER.MSG.NEXT.{streams.DISPATCH}.{consumer}",
            f"$JS.ACK.{streams.DISPATCH}.{consumer}.>",
        ]
    return {"pub": {"allow": publish}, "sub": {"allow": [f"{inbox_prefix(agent)}.>"]}}
