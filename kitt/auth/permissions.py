"""What an agent may do on NATS: its own subjects, its own DISPATCH consumers' API, its own inbox."""

from kitt.events import streams, subjects


def consumers(agent: str) -> tuple[str, str]:
    """The agent's durable consumers on DISPATCH: its work queue and its control (cancel) queue."""
    subjects.token(agent, "agent")
    return f"agent-{agent}", f"agent-{agent}-control"


def inbox_prefix(agent: str) -> str:
    return f"_INBOX.{subjects.token(agent, 'agent')}"


def agent_permissions(agent: str) -> dict[str, dict[str, list[str]]]:
    work, control = consumers(agent)
    publish = [f"in.{agent}.>", f"log.{agent}.>", f"metric.{agent}.>", f"hb.{agent}"]
    for consumer in (work, control):
        publish += [
            f"$JS.API.CONSUMER.INFO.{streams.DISPATCH}.{consumer}",
            f"$JS.API.CONSUMER.MSG.NEXT.{streams.DISPATCH}.{consumer}",
            f"$JS.ACK.{streams.DISPATCH}.{consumer}.>",
        ]
    return {"pub": {"allow": publish}, "sub": {"allow": [f"{inbox_prefix(agent)}.>"]}}
