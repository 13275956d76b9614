"""What the parent hands the evaluation worker, and what the worker hands back: typed both ways."""

from typing import Literal

import msgspec

from kitt.bench.quality.catalog import Mode, Variant

Scalar = float | int | str | bool | None
TokenizeApi = Literal["vllm", "llama_cpp"]
CANNOT_FIT = "kitt: prompts do not fit the engine's context: "  # the worker's last word when they do not


class Job(msgspec.Struct, frozen=True, kw_only=True):
    server_url: str  # the engine's root URL
    dialect: str = "openai"  # the engine's API: "tgi" scores loglikelihood through TGI's native /generate
    model: str  # the name requests must use
    mode: Mode
    tasks: tuple[str, ...]  # task or group names to run
    variant: Variant | None = None  # a built-in benchmark: its task files are written by the worker
    files: dict[str, str] = {}  # the converted data files the variant points at
    include_paths: tuple[str, ...] = ()  # folders holding custom task files
    sandboxed: bool = False  # an untrusted task: templates in Jinja's sandbox, no HF `evaluate` metrics
    limit: float | None = None  # per task: a count (≥ 1) or a fraction (< 1)
    num_fewshot: int | None = None
    concurrency: int = 1
    max_gen_toks: int | None = None
    max_length: int = 2048  # tokens a request holds: the engine's where it states one, capped by the suite
    context_stated: bool = False  # max_length is what the engine says it holds, not only the suite's wish
    tokenize_api: TokenizeApi | None = None  # the engine's /tokenize: generative prompts are cut with it
    engine: str = "the engine"  # its name, for messages
    request_timeout_s: int = 300
    seed: int = 1234
    work_dir: str  # scratch for generated task files
    output: str  # where the worker writes its Evaluation


class TaskScores(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    group: bool
    alias: str | None = None
    version: Scalar = None
    num_fewshot: int | None = None
    samples: int | None = None  # how many documents were scored
    scores: dict[str, float | None]  # "metric,filter" -> value; "metric_stderr,filter" for its stderr


class Fitting(msgspec.Struct, frozen=True, kw_only=True):
    """What was done to fit an evaluation's generative prompts to the engine's context."""

    how: str  # with the engine's tokenizer, by the byte bound, or why nothing was checked
    prompts: int
    cut: int = 0  # prompts that lost tokens
    longest_tokens: int | None = None  # the longest prompt before cutting, in the engine's tokens
    most_cut_tokens: int = 0


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    lm_eval_version: str
    tasks: tuple[TaskScores, ...]
    subtasks: dict[str, list[str]] = {}  # group -> its members
    samples: tuple[dict[str, Scalar], ...] = ()
    duration_s: float
    fitting: Fitting | None = None  # generative prompts only
