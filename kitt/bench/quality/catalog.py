"""The built-in quality benchmarks: which lm-eval tasks each runs in each mode, and on which data.

A benchmark runs in one of two modes, and results of different modes are never compared:
- `loglikelihood`: multiple-choice scoring from prompt logprobs (needs an engine that echoes them);
- `generative`: the model writes an answer that is parsed and matched (any engine).

Each task is the stock lm-eval task, included by its file under `lm_eval/tasks/`, with only its data
files replaced by the converted offline copy (see `datasets.py`). Group files hold no data and are copied.
"""

import msgspec

from kitt.events.states import QualityMode

Mode = QualityMode
MODES: tuple[Mode, ...] = ("loglikelihood", "generative")


class TaskOverride(msgspec.Struct, frozen=True, kw_only=True):
    task: str  # the task name lm-eval registers
    stock: str  # the stock YAML, relative to lm_eval/tasks/
    data_files: dict[str, str]  # split -> converted file key (see datasets.Converted.files)
    extra: dict[str, str | None] = {}  # other keys to override (a variant's split names)


class Variant(msgspec.Struct, frozen=True, kw_only=True):
    """One benchmark in one mode."""

    benchmark: str
    mode: Mode
    run: tuple[str, ...]  # the task or group names passed to lm-eval
    overrides: tuple[TaskOverride, ...]
    copies: tuple[str, ...] = ()  # group YAMLs to copy unchanged, relative to lm_eval/tasks/
    headline: tuple[str, str, str]  # (task or group, metric, filter) of the one figure to quote
    label: str = ""  # set when the data is not exactly what the stock task loads


def _mmlu(subjects: list[str], mode: Mode) -> Variant:
    folder, suffix = ("default", "") if mode == "loglikelihood" else ("generative", "_generative")
    overrides = tuple(
        TaskOverride(
            task=f"mmlu_{subject}{suffix}",
            stock=f"mmlu/{folder}/mmlu_{subject}.yaml",
            data_files={"test": f"{subject}/test", "dev": f"{subject}/dev"},
        )
        for subject in subjects
    )
    if mode == "loglikelihood":
        groups: tuple[str, ...] = ("_mmlu.yaml", "_mmlu_humanities.yaml", "_mmlu_other.yaml")
        groups += ("_mmlu_social_sciences.yaml", "_mmlu_stem.yaml")
        return Variant(
            benchmark="mmlu",
            mode=mode,
            run=("mmlu",),
            overrides=overrides,
            copies=tuple(f"mmlu/default/{g}" for g in groups),
            headline=("mmlu", "acc", "none"),
        )
    return Variant(
        benchmark="mmlu",
        mode=mode,
        run=("mmlu_generative",),
        overrides=overrides,
        copies=("mmlu/generative/_mmlu.yaml",),
        headline=("mmlu_generative", "exact_match", "get_response"),
    )


def _gsm8k() -> Variant:
    return Variant(
        benchmark="gsm8k",
        mode="generative",
        run=("gsm8k",),
        overrides=(
            TaskOverride(
                task="gsm8k", stock="gsm8k/gsm8k.yaml", data_files={"test": "test", "train": "train"}
            ),
        ),
        headline=("gsm8k", "exact_match", "strict-match"),
    )


def _truthfulqa(mode: Mode) -> Variant:
    if mode == "generative":
        return Variant(
            benchmark="truthfulqa",
            mode=mode,
            run=("truthfulqa_gen",),
            overrides=(
                TaskOverride(
                    task="truthfulqa_gen",
                    stock="truthfulqa/truthfulqa_gen.yaml",
                    data_files={"validation": "generation"},
                ),
            ),
            headline=("truthfulqa_gen", "bleu_acc", "none"),
        )
    return Variant(
        benchmark="truthfulqa",
        mode=mode,
        run=("truthfulqa_mc1", "truthfulqa_mc2"),
        overrides=tuple(
            TaskOverride(
                task=f"truthfulqa_{mc}",
                stock=f"truthfulqa/truthfulqa_{mc}.yaml",
                data_files={"validation": "multiple_choice"},
            )
            for mc in ("mc1", "mc2")
        ),
        headline=("truthfulqa_mc2", "acc", "none"),
    )


def _hellaswag() -> Variant:
    # This copy's text differs slightly from the hub's, so it runs under its own name and label.
    return Variant(
        benchmark="hellaswag",
        mode="loglikelihood",
        run=("hellaswag_kitt",),
        overrides=(
            TaskOverride(
                task="hellaswag_kitt",
                stock="hellaswag/hellaswag.yaml",
                data_files={"validation": "validation"},
                extra={"training_split": None},
            ),
        ),
        headline=("hellaswag_kitt", "acc_norm", "none"),
        label="hellaswag_kitt: the 10,042-item validation copy, text clean-up differs from lm-eval's",
    )


BENCHMARKS: tuple[str, ...] = ("gsm8k", "mmlu", "truthfulqa", "hellaswag")


class NoSuchVariant(ValueError):
    pass


def modes(benchmark: str) -> tuple[Mode, ...]:
    """The modes a benchmark can run in, preferred first."""
    known: dict[str, tuple[Mode, ...]] = {
        "gsm8k": ("generative",),
        "mmlu": ("loglikelihood", "generative"),
        "truthfulqa": ("loglikelihood", "generative"),
        "hellaswag": ("loglikelihood",),
    }
    return known[benchmark]


def variant(benchmark: str, mode: Mode, mmlu_subjects: list[str]) -> Variant:
    if benchmark not in BENCHMARKS:
        raise NoSuchVariant(f"unknown quality benchmark {benchmark!r}; built in: {', '.join(BENCHMARKS)}")
    if mode not in modes(benchmark):
        raise NoSuchVariant(f"{benchmark} has no {mode} variant (it runs as {', '.join(modes(benchmark))})")
    if benchmark == "gsm8k":
        return _gsm8k()
    if benchmark == "mmlu":
        return _mmlu(mmlu_subjects, mode)
    if benchmark == "truthfulqa":
        return _truthfulqa(mode)
    return _hellaswag()
