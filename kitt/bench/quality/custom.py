"""Custom quality benchmarks: KITT's simple prompt/expected format, or a task YAML in lm-eval's own format.

The simple format is a list of prompts with expected answers and one scoring rule for the file:

    name: capitals
    scoring: contains          # exact | contains | regex | numeric
    max_tokens: 16
    items:
      - {prompt: "The capital of France is", expected: "Paris"}

It runs through lm-eval like every other task (a generated task file and data file, scored by the metric
`kitt_<scoring>` that the evaluation worker registers). An lm-eval task YAML is used in place. Its
`!function` hooks run code, so a file that uses them (or includes one that does, in any form) is accepted
only from the trusted directory the user configured (`KITT_TRUSTED_TASKS_DIR` or the `trusted_tasks_dir`
setting). A file from elsewhere runs as a merged copy alone in a fresh folder, its templates sandboxed and
its metrics by name only (`untrusted`). Errors name the file, line and field.
"""

import json
import os
import re
import shutil
from pathlib import Path
from typing import Literal

import msgspec
import yaml

from kitt.bench.quality import untrusted
from kitt.bench.quality.catalog import Mode
from kitt.yamlfile import YamlError, parse_yaml

Scoring = Literal["exact", "contains", "regex", "numeric"]
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
OUTPUT_TYPES = {"generate_until", "multiple_choice", "loglikelihood", "loglikelihood_rolling"}
MAX_INCLUDE_DEPTH = 5


class Item(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    prompt: str
    expected: str


class SimpleBenchmark(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    description: str = ""
    scoring: Scoring = "exact"
    ignore_case: bool = True
    tolerance: float = 1e-6  # numeric: relative tolerance
    prompt_template: str = "{prompt}"
    max_tokens: int = 64
    stop: tuple[str, ...] = ("\n",)
    items: tuple[Item, ...]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError("name must be a letter then letters, digits, '_' or '-' (at most 64)")
        if not self.items:
            raise ValueError("a benchmark needs at least one item")
        if "{prompt}" not in self.prompt_template:
            raise ValueError("prompt_template must contain {prompt}")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")


class Custom(msgspec.Struct, frozen=True, kw_only=True):
    """A validated custom benchmark, ready to hand to the evaluation worker."""

    name: str  # the lm-eval task name
    path: str  # the user's file
    format: Literal["kitt", "lm-eval"]
    mode: Mode
    simple: SimpleBenchmark | None = None
    config: str | None = None  # an untrusted lm-eval task, includes merged: what runs (None: run in place)


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def trusted_dir(setting: str | None = None) -> Path | None:
    chosen = setting or os.environ.get("KITT_TRUSTED_TASKS_DIR")
    return Path(chosen).expanduser().resolve() if chosen else None


class _Loader(yaml.SafeLoader):
    """Reads lm-eval task files: `!function` becomes a marker that remembers its line."""


class _Function(str):
    line: int


def _function(loader: yaml.SafeLoader, node: yaml.Node) -> _Function:
    marker = _Function(str(loader.construct_scalar(node)))
    marker.line = node.start_mark.line + 1
    return marker


_Loader.add_constructor("!function", _function)


def _functions(value: object) -> list[_Function]:
    if isinstance(value, _Function):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _functions(v)]
    if isinstance(value, list):
        return [f for v in value for f in _functions(v)]
    return []


def _line(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip("\"'").startswith(key):
            return number
    return None


def _include_list(file: Path, value: object) -> list[str]:
    """An `include:` in every form lm-eval accepts: one path or a list of them."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise YamlError(f"{file}: include: expected a file name or a list of them, got {value!r}")


def _read_task(path: Path) -> dict[str, object]:
    try:
        loaded = yaml.load(path.read_text(), Loader=_Loader)
    except (OSError, yaml.YAMLError) as exc:
        raise YamlError(f"{path}: cannot read the included task file: {exc}") from None
    if not isinstance(loaded, dict):
        raise YamlError(f"{path}: line 1: an included task file must be a mapping")
    return loaded


def _include_chain(path: Path, data: dict[str, object]) -> list[tuple[Path, dict[str, object]]]:
    """The file and every file it includes (each form, at any depth): lm-eval runs hooks from any of them."""
    chain: list[tuple[Path, dict[str, object]]] = [(path, data)]
    seen = {path.resolve()}
    pending = [(path, data, 0)]
    while pending:
        current, loaded, depth = pending.pop()
        for include in _include_list(current, loaded.get("include")):
            parent = (current.parent / include).resolve()
            if parent in seen:
                continue  # a cycle (lm-eval refuses it) or a diamond: read once
            if depth >= MAX_INCLUDE_DEPTH:
                raise YamlError(f"{path}: includes nest deeper than {MAX_INCLUDE_DEPTH} files")
            if not parent.is_file():
                raise YamlError(
                    f"{current}: line {_line(current.read_text(), 'include')}: "
                    f"include: {include!r} is not a file"
                )
            seen.add(parent)
            included = _read_task(parent)
            chain.append((parent, included))
            pending.append((parent, included, depth + 1))
    return chain


def _merged(path: Path, loaded: dict[str, object], files: dict[Path, dict[str, object]]) -> dict[str, object]:
    """The task as lm-eval assembles it: each include in order, then the file's own keys over them."""
    merged: dict[str, object] = {}
    for include in _include_list(path, loaded.get("include")):
        parent = (path.parent / include).resolve()
        if parent in files:
            inner = _merged(parent, files.pop(parent), files)  # popped: a cycle is not followed twice
            inner.pop("task_list", None)
            merged.update(inner)
    merged.update({k: v for k, v in loaded.items() if k != "include"})
    return merged


def _output_type(data: dict[str, object]) -> str | None:
    found = data.get("output_type")
    return found if isinstance(found, str) else None


def _lm_eval(path: Path, text: str, data: dict[str, object], trusted: Path | None) -> Custom:
    task = data.get("task")
    if not isinstance(task, str) or not task:
        raise YamlError(f"{path}: line 1: an lm-eval task file needs `task:` (the task's name)")
    if "dataset_path" not in data and not data.get("include"):
        raise YamlError(f"{path}: line 1: an lm-eval task needs `dataset_path:` or `include:`")
    chain = _include_chain(path, data)
    inside = trusted is not None and all(f.resolve().is_relative_to(trusted) for f, _ in chain)
    for file, loaded in chain:
        for hook in _functions(loaded):
            if trusted is None or not file.resolve().is_relative_to(trusted):
                where = f"trusted directory {trusted}" if trusted else "a trusted directory"
                via = "" if file == path else f" (included from {path})"
                raise YamlError(
                    f"{file}: line {hook.line}: `!function {hook}` runs code; only task files under {where} "
                    f"may use it{via} (set KITT_TRUSTED_TASKS_DIR or the trusted_tasks_dir setting)"
                )
    merged = _merged(path, data, {f.resolve(): loaded for f, loaded in chain[1:]})
    if not inside:
        problems = [*untrusted.template_problems(merged), *untrusted.metric_problems(merged)]
        for field, why in problems:
            raise YamlError(f"{path}: {field}: {why} (outside the trusted directory)")
    output_type = _output_type(merged)
    if output_type is not None and output_type not in OUTPUT_TYPES:
        raise YamlError(
            f"{path}: line {_line(text, 'output_type')}: output_type {output_type!r} is not one of "
            f"{', '.join(sorted(OUTPUT_TYPES))}"
        )
    mode: Mode = "generative" if output_type == "generate_until" else "loglikelihood"
    # Outside the trusted directory the task runs from a copy of its own, alone in a fresh folder: lm-eval
    # indexes the whole folder it is given, so a sibling file there would run with it.
    config = None if inside else yaml.safe_dump(merged, sort_keys=False)
    return Custom(name=task, path=str(path.resolve()), format="lm-eval", mode=mode, config=config)


def load(path: Path, trusted: Path | None = None) -> Custom:
    """Validate a custom benchmark file; raises YamlError naming the file, line and field."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise YamlError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise YamlError(f"{path}: {where}: {exc.problem}") from None
    if not isinstance(data, dict):
        raise YamlError(f"{path}: line 1: expected a mapping (a benchmark), got {type(data).__name__}")
    if "items" in data:
        simple = parse_yaml(text, SimpleBenchmark, source=str(path))
        _check_items(path, text, simple)
        return Custom(
            name=f"kitt_custom_{simple.name}",
            path=str(path.resolve()),
            format="kitt",
            mode="generative",
            simple=simple,
        )
    if {"task", "include", "dataset_path", "output_type"} & data.keys():
        return _lm_eval(path, text, data, trusted)
    raise YamlError(
        f"{path}: line 1: neither KITT's format (`name`, `scoring`, `items`) nor an lm-eval task (`task`)"
    )


def _check_items(path: Path, text: str, simple: SimpleBenchmark) -> None:
    for index, item in enumerate(simple.items):
        if simple.scoring == "regex":
            try:
                re.compile(item.expected)
            except re.error as exc:
                raise YamlError(f"{path}: items[{index}].expected: not a regular expression: {exc}") from None
        if simple.scoring == "numeric":
            try:
                float(item.expected.replace(",", ""))
            except ValueError:
                raise YamlError(
                    f"{path}: items[{index}].expected: {item.expected!r} is not a number"
                ) from None


def write_lm_eval(custom: Custom, target: Path) -> Path:
    """An untrusted lm-eval task's merged copy, alone in `target` (emptied first); returns the folder."""
    if custom.config is None:
        raise ValueError("a trusted task file runs in place")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    (target / f"{custom.name}.yaml").write_text(custom.config)
    return target


def write_task(custom: Custom, target: Path) -> Path:
    """Write a simple benchmark as an lm-eval task (YAML + JSONL) into `target`; returns the folder."""
    simple = custom.simple
    if simple is None:
        raise ValueError("only KITT-format benchmarks are written out; lm-eval files are used in place")
    target.mkdir(parents=True, exist_ok=True)
    data = target / f"{custom.name}.jsonl"
    with data.open("w") as out:
        for item in simple.items:
            prompt = simple.prompt_template.replace("{prompt}", item.prompt)
            out.write(json.dumps({"prompt": prompt, "expected": item.expected}) + "\n")
    task = {
        "task": custom.name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data.resolve())}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "{{prompt}}",
        "doc_to_target": "{{expected}}",
        "generation_kwargs": {
            "until": list(simple.stop),
            "max_gen_toks": simple.max_tokens,
            "do_sample": False,
        },
        "metric_list": [
            {
                "metric": f"kitt_{simple.scoring}",
                "aggregation": "mean",
                "higher_is_better": True,
                "ignore_case": simple.ignore_case,
                "tolerance": simple.tolerance,
            }
        ],
        "metadata": {"version": 1.0, "source": custom.path},
    }
    (target / f"{custom.name}.yaml").write_text(yaml.safe_dump(task, sort_keys=False))
    return target


TEMPLATE = """\
# A KITT custom benchmark: prompts, expected answers, and one scoring rule.
# scoring: exact (whole answer), contains (expected appears in it), regex (expected is a pattern that
# must match), numeric (the last number in the answer equals expected, within `tolerance`).
name: {name}
description: What this benchmark checks.
scoring: contains
ignore_case: true
max_tokens: 32
stop: ["\\n"]
prompt_template: "Question: {{prompt}}\\nAnswer:"
items:
  - prompt: What is the capital of France?
    expected: Paris
  - prompt: How many legs does a spider have?
    expected: "8"
"""
