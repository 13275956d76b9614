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


AnyTest = PerformanceTest


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

    def sampling_for(self, test: AnyTest) -> Sampling:
        return test.sampling.apply(self.sampling) if test.sampling else self.sampling


def builtin_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in resources.files("kitt.suites").iterdir()
        if p.name.endswith(".yaml")
    )


def load(name_or_path: str, home: Path) -> Suite:
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
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
