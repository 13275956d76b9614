"""Subject names. One place, so nothing builds a subject by hand."""

import re

from kitt.events.types import AGGREGATES

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

EVENTS_PREFIX = "ev"
LIVE_PREFIX = "live"
COMMAND_PREFIX = "kitt.cmd"

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


def command(name: str) -> str:
    return f"{COMMAND_PREFIX}.{name}"


def log(agent: str, test_id: str) -> str:
    return f"log.{token(agent, 'agent')}.{token(test_id, 'test id')}"


def metric(agent: str, name: str) -> str:
    return f"metric.{token(agent, 'agent')}.{token(name, 'metric')}"


def heartbeat(agent: str) -> str:
    return f"hb.{token(agent, 'agent')}"


def dispatch(agent: str) -> str:
    return f"dispatch.{token(agent, 'agent')}.>"


def agent_inbound(agent: str) -> str:
    return f"in.{token(agent, 'agent')}.>"
