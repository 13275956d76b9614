"""Benchmark suites as YAML: which tests to run, how often, and with what sampling.

Built-in suites ship in `kitt/suites/`; `-s NAME` also finds `$KITT_HOME/suites/NAME.yaml`, and `-s PATH`
takes a file. Errors name the file, the line and the field.
"""

from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

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


class PerformanceTest(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="performance", tag_field="kind"
):
    name: str
    concurrency: tuple[int, ...] = (1,)  # a sweep when several
    rate: tuple[float, ...] = ()  # requests/s; when set, an arrival schedule replaces fixed concurrency
    arrival: Literal["poisson", "constant"] = "poisson"
    burstiness: float = 1.0
    max_requests: int | None = 32
    max_duration_s: float | None = None
    warmup_requests: int = 1
    input_tokens: int = 128
    force_length: bool = True  # ignore_eos / min_tokens where the engine allows
    dataset: str | None = None  # a JSONL ({"prompt": ...}) or text file of prompts
    sampling: SamplingOverride | None = None
    slo: Slo | None = None
    workers: int | None = None  # load-generator processes; default: loadgen.default_workers
    request_timeout_s: float = 300.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.concurrency or any(c < 1 for c in self.concurrency):
            raise ValueError("concurrency must list positive integers")
        if any(r <= 0 for r in self.rate):
            raise ValueError("rate must list positive numbers of requests per second")
        if self.max_requests is None and self.max_duration_s is None:
            raise ValueError("set max_requests or max_duration_s, or the test never ends")


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
    max_length: int = 2048
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


AnyTest = PerformanceTest | QualityTest


class Suite(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    description: str = ""
    runs: int = 1
    sampling: Sampling = Sampling()
    tests: tuple[AnyTest, ...]

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ValueError("runs must be at least 1")
        if not self.tests:
            raise ValueError("a suite needs at least one test")

    def sampling_for(self, test: PerformanceTest) -> Sampling:
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
