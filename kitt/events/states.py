"""The closed sets of KITT's language, each defined once: runtimes, statuses, roles, reply codes.

Events, commands, read models and adapters all take their types from here; msgspec then refuses any other
value where one of these is decoded (an event, a command, a result document).
"""

from typing import Literal, get_args

RuntimeName = Literal["docker", "native", "external"]
RUNTIMES: tuple[RuntimeName, ...] = get_args(RuntimeName)
DEFAULT_TEST_RUNTIME: RuntimeName = "docker"  # a test on an agent runs its engine in a container unless asked

FinalStatus = Literal["succeeded", "failed", "cancelled"]  # how a run or a test ended
FINAL_STATUSES: frozenset[str] = frozenset(get_args(FinalStatus))
RunStatus = Literal["running", "succeeded", "failed", "cancelled"]
RUN_STATUSES: frozenset[str] = frozenset(get_args(RunStatus))
TestStatus = Literal["requested", "dispatched", "running", "cancelling", "succeeded", "failed", "cancelled"]
AgentStatus = Literal["provisioned", "registered", "revoked"]
CampaignOutcome = Literal["succeeded", "completed_with_failures", "failed"]
CampaignStatus = Literal[
    "draft", "running", "paused", "succeeded", "completed_with_failures", "failed", "cancelled"
]
ItemStatus = Literal["pending", "running", "retrying", "succeeded", "failed", "cancelled", "skipped"]

BenchmarkKind = Literal["performance", "quality", "custom"]
# "invalid": the client, not the engine, set the pace; "skipped": the engine cannot serve this benchmark in
# any mode the suite allows (`error` says why)
BenchmarkStatus = Literal["succeeded", "failed", "invalid", "skipped"]
QualityMode = Literal["loglikelihood", "generative"]  # never compare scores across modes

Role = Literal["admin", "viewer"]  # a viewer reads everything and changes nothing
ROLES: tuple[Role, ...] = get_args(Role)

# What a command's reply says went wrong: invalid input, no such aggregate, a state that does not allow it
# (or kept changing), a principal that may not, a failure inside the service, no service to answer.
ReplyCode = Literal["invalid", "not_found", "conflict", "forbidden", "internal", "unavailable"]
