"""From a suite's performance test to the load generator's plan for one level: prompts, bodies, arrivals."""

from pathlib import Path

import msgspec

from kitt.bench import prompts, workloads
from kitt.bench.loadplan import LoadPlan
from kitt.bench.schedule import Schedule
from kitt.bench.suites import PerformanceTest, Sampling
from kitt.bench.tokens import WordCosts
from kitt.engines import dialects
from kitt.engines.runtime import Endpoint

DISTINCT_PROMPTS = 10_000  # rotated beyond this: a long test does not hold every body
DEFAULT_REQUESTS = 10_000


def levels(test: PerformanceTest) -> list[tuple[str, float]]:
    """(mode, level) for each level of the test: a sweep, a list of rates, a trace, or chat sessions."""
    workload = test.workload
    if isinstance(workload, workloads.Trace):
        return [("trace", 0.0)]
    if isinstance(workload, workloads.MultiTurn):
        return [("sessions", float(workload.sessions))]
    return [("rate", r) for r in test.rate] or [("concurrency", float(c)) for c in test.concurrency]


def requests(test: PerformanceTest, level: float, mode: str) -> int:
    """How many requests a level may send: its budget, or what its rate sends in its duration."""
    if test.max_requests is not None:
        return test.max_requests
    if mode == "rate" and test.max_duration_s is not None and level != float("inf"):
        return int(level * test.max_duration_s) + 1
    return DEFAULT_REQUESTS


def sized_by_tokens(test: PerformanceTest) -> bool:
    """Whether the test's prompts are KITT's synthetic ones sized in the served model's tokens (a dataset
    is sent as written; shared-prefix prompts are sized in words)."""
    return not test.dataset and not isinstance(test.workload, workloads.SharedPrefix)


def _texts(test: PerformanceTest, count: int, costs: WordCosts | None) -> list[str]:
    distinct = min(count, DISTINCT_PROMPTS)
    if test.dataset:
        return prompts.from_file(Path(test.dataset).expanduser(), distinct)
    if isinstance(test.workload, workloads.SharedPrefix):
        return workloads.shared_prefix_prompts(test.workload, distinct, test.input_tokens, seed=test.seed)
    if costs is not None:
        return prompts.sized(distinct, test.input_tokens, costs, seed=test.seed)
    return prompts.synthetic(distinct, test.input_tokens, seed=test.seed)


def plan_for(
    test: PerformanceTest,
    sampling: Sampling,
    endpoint: Endpoint,
    level: float,
    mode: str,
    costs: WordCosts | None = None,
) -> LoadPlan:
    """The level's plan; with `costs`, synthetic prompts are sized in the served model's tokens."""
    spec = endpoint.spec
    dialect = dialects.for_engine(
        spec.dialect,
        streams_usage=spec.streams_usage,
        min_tokens=spec.min_tokens,
        chunk_per_token=spec.chunk_per_token,
    )
    template = dialects.GenRequest(
        model=endpoint.model,
        prompt="",
        max_tokens=sampling.max_tokens,
        force_length=test.force_length,
        chat=sampling.chat,
        temperature=sampling.temperature,
    )
    base = LoadPlan(
        host=endpoint.host,
        port=endpoint.port,
        dialect=spec.dialect,
        streams_usage=spec.streams_usage,
        min_tokens=spec.min_tokens,
        chunk_per_token=spec.chunk_per_token,
        path=dialect.path(template),
        bodies=(),
        max_requests=test.max_requests,
        max_duration_s=test.max_duration_s,
        warmup_requests=test.warmup_requests,
        request_timeout_s=test.request_timeout_s,
        max_error_rate=test.max_error_rate,
    )
    workload = test.workload
    if isinstance(workload, workloads.Trace):
        return _trace_plan(base, workload, test, dialect, template, costs)
    count = requests(test, level, mode) + test.warmup_requests
    texts = _texts(test, count, costs)
    if isinstance(workload, workloads.MultiTurn):
        return msgspec.structs.replace(
            base,
            mode="sessions",
            concurrency=workload.sessions,
            template=template,
            turns=workload.turns,
            think_time_s=workload.think_time_s,
            turn_prompts=tuple(texts),
            bodies=(b"",),
        )
    bodies = tuple(dialect.body(msgspec.structs.replace(template, prompt=t)) for t in texts)
    if mode != "rate":
        return msgspec.structs.replace(base, mode="concurrency", concurrency=int(level), bodies=bodies)
    schedule = Schedule(
        rate=level, count=count, arrival=test.arrival, burstiness=test.burstiness, seed=test.seed
    )
    return msgspec.structs.replace(base, mode="rate", concurrency=0, schedule=schedule, bodies=bodies)


def _trace_plan(
    base: LoadPlan,
    trace: workloads.Trace,
    test: PerformanceTest,
    dialect: dialects.Dialect,
    template: dialects.GenRequest,
    costs: WordCosts | None,
) -> LoadPlan:
    """Every trace line its own request: its input length, its output length, sent at its time."""
    found = workloads.read_trace(trace, test.max_requests)
    texts = [
        prompts.sized(1, r.input_tokens, costs, seed=test.seed + i, first=i)[0]
        if costs is not None
        else prompts.synthetic(1, r.input_tokens, seed=test.seed + i)[0]
        for i, r in enumerate(found)
    ]
    bodies = tuple(
        dialect.body(msgspec.structs.replace(template, prompt=text, max_tokens=r.output_tokens))
        for text, r in zip(texts, found, strict=True)
    )
    arrivals = tuple(r.at / trace.speed for r in found)
    return msgspec.structs.replace(
        base, mode="rate", concurrency=0, arrivals=arrivals, bodies=bodies, max_requests=len(found)
    )


def trace_rate(plan: LoadPlan) -> float:
    """A trace's mean request rate, as the level its figures are labelled with."""
    span = plan.arrivals[-1] if plan.arrivals else 0.0
    return len(plan.arrivals) / span if span > 0 else float(len(plan.arrivals))
