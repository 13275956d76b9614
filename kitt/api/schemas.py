"""Request and response bodies of the API: msgspec Structs, so the OpenAPI schema is exact."""

import msgspec

from kitt.events.states import DEFAULT_TEST_RUNTIME, RuntimeName


class Health(msgspec.Struct, frozen=True):
    status: str
    version: str


class QuickTestRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    agent: str
    model: str
    engine: str
    suite: str = "quick"
    runtime: RuntimeName = DEFAULT_TEST_RUNTIME
    force: bool = False


class Created(msgspec.Struct, frozen=True):
    id: str
    seq: int  # the EVENTS position of the write: `?wait=true` returned after the read model reached it


class AgentRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str


class AgentCreated(msgspec.Struct, frozen=True):
    name: str
    token: str  # shown once: only its SHA-256 is kept
    server: str  # the NATS URL to give `kitt-agent init --server` (never with credentials)
    ca: str | None = None  # the CA certificate (PEM) the agent checks the server with, if it needs one


class CancelRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: str = "cancelled from the API"


class AgentSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    settings: dict[str, str | int | float | bool | None]
