"""Benchmark suites as YAML: which tests to run, how often, and with what sampling.

Built-in suites ship in `kitt/suites/`; `-s NAME` also finds `$KITT_HOME/suites/NAME.yaml`, and `-s PATH`
takes a file. Errors name the file, the line and the field.
"""

from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from kitt.bench import targets, workloads
from kitt.bench.metrics import Slo
from kitt.yamlfile import YamlError, load_yaml, parse_yaml


class Sampling(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    temperature: float = 0.0
    max_tokens: int = 128
    chat: bool = False


class SamplingOverride(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    temperature: float | None = None
    max_tokens: int | None = None
    chat: bool | None = None

    def apply(self, base: Sampling) -> Sampling:
        changes = {k: v for k, v in msgspec.structs.asdict(self).items() if v is not None}
        return msgspec.structs.replace(base, **changes)


DEFAULT_MAX_REQUESTS = 32  # a level's requests when the suite bounds it neither by count nor by time


class PerformanceTest(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="performance", tag_field="kind"
):
    name: str
    concurrency: tuple[int, ...] = (1,)  # a sweep when several
    rate: tuple[float, ...] = ()  # requests/s; when set, an arrival schedule replaces fixed concurrency
    arrival: Literal["poisson", "constant"] = "poisson"
    burstiness: float = 1.0
    max_requests: int | None = None  # DEFAULT_MAX_REQUESTS when neither bound is given
    max_duration_s: float | None = None
    warmup_requests: int = 1
    input_tokens: int = 128
    force_length: bool = True  # ignore_eos / min_tokens where the engine allows
    dataset: str | None = None  # a JSONL ({"prompt": ...}) or text file of prompts
    sampling: SamplingOverride | None = None
    slo: Slo | None = None
    workload: workloads.Workload | None = None  # shared_prefix, multi_turn or trace (kitt.bench.workloads)
    workers: int | None = None  # load-generator processes; default: loadgen.default_workers
    request_timeout_s: float = 300.0
    seed: int = 0
    # Failed requests a level may have, as a share of its measured ones; past it the level fails (and stops
    # early once that is clear), and the sweep ends there unless `continue_after_failure`.
    max_error_rate: float = 0.05
    continue_after_failure: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.max_error_rate <= 1:
            raise ValueError("max_error_rate is a share of the requests: between 0 and 1 (0.05 is 5 %)")
        if not self.concurrency or any(c < 1 for c in self.concurrency):
            raise ValueError("concurrency must list positive integers")
        if any(r <= 0 for r in self.rate):
            raise ValueError("rate must list positive numbers of requests per second")
        if self.max_requests is None and self.max_duration_s is None:
            # Only with neither bound: a level given only a duration runs for that long (at any rate).
            msgspec.structs.force_setattr(self, "max_requests", DEFAULT_MAX_REQUESTS)
        if self.max_requests is not None and self.max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        if self.max_duration_s is not None and self.max_duration_s <= 0:
            raise ValueError("max_duration_s must be positive")
        if isinstance(self.workload, workloads.Trace) and self.rate:
            raise ValueError("a trace sets its own arrival times: drop `rate`")


class SloSearch(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="slo_search", tag_field="kind"
):
    """The highest load whose percentiles meet every target: bisection between `low` and `high`.

    Each level runs `requests_per_level` requests; a level whose confidence interval straddles a target is
    measured again (up to `repeats` times, pooling the requests) before it is decided.
    """

    name: str
    targets: str  # "ttft_p99<=500ms,tpot_p99<=50ms"
    search: Literal["concurrency", "rate"] = "concurrency"
    low: float = 1
    high: float = 64
    requests_per_level: int = 200
    warmup_requests: int = 1
    repeats: int = 2
    max_levels: int = 12
    resolution: float = 0.05  # rate search: stop when the bracket is this close (relative)
    arrival: Literal["poisson", "constant"] = "poisson"
    burstiness: float = 1.0
    input_tokens: int = 128
    force_length: bool = True
    dataset: str | None = None
    sampling: SamplingOverride | None = None
    workers: int | None = None
    request_timeout_s: float = 300.0
    seed: int = 0

    def __post_init__(self) -> None:
        targets.parse(self.targets)  # a bad target is an error in the suite, at its line
        if not 0 < self.low < self.high:
            raise ValueError("an SLO search needs 0 < low < high")
        if self.search == "concurrency" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError("a concurrency search needs whole numbers for low and high")
        if self.requests_per_level < 10 or self.repeats < 0 or self.max_levels < 2:
            raise ValueError("requests_per_level >= 10, repeats >= 0 and max_levels >= 2, please")

    def level_test(self, level: float) -> PerformanceTest:
        """One level of the search as a plain performance test."""
        return PerformanceTest(
            name=self.name,
            concurrency=(int(level),) if self.search == "concurrency" else (1,),
            rate=(level,) if self.search == "rate" else (),
            arrival=self.arrival,
            burstiness=self.burstiness,
            max_requests=self.requests_per_level,
            warmup_requests=self.warmup_requests,
            input_tokens=self.input_tokens,
            force_length=self.force_length,
            dataset=self.dataset,
            sampling=self.sampling,
            slo=_per_request_slo(targets.parse(self.targets)),
            workers=self.workers,
            request_timeout_s=self.request_timeout_s,
            seed=self.seed,
        )


def _per_request_slo(found: tuple[targets.Target, ...]) -> Slo:
    """Goodput counts requests within every per-request limit (ITL has no per-request value)."""
    limits = {t.metric: t.limit_ms for t in found}
    return Slo(ttft_ms=limits.get("ttft"), tpot_ms=limits.get("tpot"), e2e_ms=limits.get("e2e"))


class QualityTest(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="quality", tag_field="kind"
):
    """A quality benchmark through lm-eval: a built-in one, or a custom file (path or name in
    `$KITT_HOME/benchmarks/`)."""

    name: str
    benchmark: str  # gsm8k | mmlu | truthfulqa | hellaswag | a custom benchmark
    mode: Literal["auto", "loglikelihood", "generative"] = "auto"  # auto: loglikelihood if the engine can
    limit: float | None = None  # documents per task: a count, or a fraction when below 1
    num_fewshot: int | None = None  # the stock task's default when unset
    concurrency: int = 1
    max_gen_toks: int | None = None
    max_length: int | None = None  # tokens a request may hold: the engine's context where unset, capped by it
    timeout_s: float = 3600.0  # the whole evaluation; past it the worker is stopped and the test fails
    request_timeout_s: int = 300
    seed: int = 1234

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit <= 0:
            raise ValueError("limit must be positive (a count, or a fraction below 1)")
        if self.limit is not None and self.limit >= 1 and self.limit != int(self.limit):
            raise ValueError("a limit of 1 or more is a count of documents and must be whole")
        if self.concurrency < 1 or self.timeout_s <= 0:
            raise ValueError("concurrency and timeout_s must be positive")
        if self.num_fewshot is not None and self.num_fewshot < 0:
            raise ValueError("num_fewshot cannot be negative")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError("max_length must be a positive number of tokens")


AnyTest = PerformanceTest | QualityTest | SloSearch


class Suite(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[^\x00]*$")]
    description: str = ""
    runs: int = 1
    sampling: Sampling = Sampling()
    tests: tuple[AnyTest, ...]

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ValueError("runs must be at least 1")
        if not self.tests:
            raise ValueError("a suite needs at least one test")

    def sampling_for(self, test: "PerformanceTest | SloSearch") -> Sampling:
        return test.sampling.apply(self.sampling) if test.sampling else self.sampling


def builtin_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in resources.files("kitt.suites").iterdir()
        if p.name.endswith(".yaml")
    )


def load(name_or_path: str, home: Path) -> Suite:
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():  # a folder named like a suite is not one
        return load_yaml(path, Suite)
    user = home / "suites" / f"{name_or_path}.yaml"
    if user.exists():
        return load_yaml(user, Suite)
    builtin = resources.files("kitt.suites") / f"{name_or_path}.yaml"
    if builtin.is_file():
        return parse_yaml(builtin.read_text(), Suite, source=f"suite {name_or_path}")
    known = ", ".join(builtin_names())
    raise YamlError(
        f"unknown suite {name_or_path!r}: not a file, not in {home / 'suites'}, not built in ({known})"
    )


def describe(name_or_path: str, home: Path) -> tuple[str, str | None]:
    """What a run records of its suite: the suite's own name (what lists show), and the file it was read
    from when it was given as a path. A suite that cannot be read keeps what was asked for: the run then
    fails on it with the reason."""
    try:
        suite = load(name_or_path, home)
    except (YamlError, OSError):
        return name_or_path, None
    path = Path(name_or_path).expanduser()
    given_as_file = path.suffix in (".yaml", ".yml") or path.is_file()
    return suite.name, str(path.resolve()) if given_as_file else None


def with_targets(suite: Suite, text: str) -> Suite:
    """`kitt run --slo TARGETS`: the suite's SLO searches aim at these targets instead of their own."""
    targets.parse(text)
    if not any(isinstance(t, SloSearch) for t in suite.tests):
        raise targets.TargetError(f"suite {suite.name!r} has no slo_search test for --slo: use -s slo")
    tests = tuple(
        msgspec.structs.replace(t, targets=text) if isinstance(t, SloSearch) else t for t in suite.tests
    )
    return msgspec.structs.replace(suite, tests=tests)
