"""Offline benchmark datasets: the raw layouts KITT ships, converted to what lm-eval's stock tasks load.

The raw copies (see datasets/README.md: GSM8K, MMLU, TruthfulQA, HellaSwag, each with its LICENSE and
SOURCE) live in a dataset directory (`KITT_DATASETS_DIR`, default: the copy in the source tree). The
converters write JSON Lines in the schema of the hub dataset each stock task was written for
(`openai/gsm8k`, `cais/mmlu`, `truthfulqa/truthful_qa`, `Rowan/hellaswag`), so a task YAML can
`include:` the stock task and override only its data files.
"""

import bz2
import csv
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import msgspec


class DatasetError(ValueError):
    """A dataset directory that is missing, incomplete or malformed; the message names the file."""


class Converted(msgspec.Struct, frozen=True, kw_only=True):
    benchmark: str
    files: dict[str, str]  # split (or subject/split) -> absolute path of the JSONL written
    rows: dict[str, int]  # same keys -> rows written


def _need(path: Path) -> Path:
    if not path.exists():
        raise DatasetError(f"dataset file missing: {path}")
    return path


def _write(rows: Iterator[dict[str, object]], target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with target.open("w") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def gsm8k(source: Path, target: Path) -> Converted:
    """`{question, answer}` per line: already the hub schema; validated and copied."""
    files, rows = {}, {}
    for split in ("test", "train"):
        path = _need(source / "gsm8k" / f"{split}.jsonl")

        def items(path: Path = path) -> Iterator[dict[str, object]]:
            for number, line in enumerate(path.read_text().splitlines(), 1):
                try:
                    row = json.loads(line)
                    question, answer = row["question"], row["answer"]
                except (ValueError, KeyError, TypeError):
                    raise DatasetError(f"{path}:{number}: expected {{question, answer}}") from None
                if "####" not in answer:
                    raise DatasetError(f"{path}:{number}: the answer has no '#### N' final line")
                yield {"question": question, "answer": answer}

        out = target / "gsm8k" / f"{split}.jsonl"
        rows[split], files[split] = _write(items(), out), str(out.resolve())
    return Converted(benchmark="gsm8k", files=files, rows=rows)


def mmlu_subjects(source: Path) -> list[str]:
    test = _need(source / "mmlu" / "test")
    return sorted(p.name.removesuffix("_test.csv") for p in test.glob("*_test.csv"))


def mmlu(source: Path, target: Path) -> Converted:
    """Per subject, test and dev: `{question, subject, choices[4], answer: 0..3}` (cais/mmlu)."""
    files, rows = {}, {}
    subjects = mmlu_subjects(source)
    if not subjects:
        raise DatasetError(f"no MMLU subjects in {source / 'mmlu' / 'test'}")
    for subject in subjects:
        for split in ("test", "dev"):
            path = _need(source / "mmlu" / split / f"{subject}_{split}.csv")

            def items(path: Path = path, subject: str = subject) -> Iterator[dict[str, object]]:
                with path.open(newline="") as fh:
                    for number, row in enumerate(csv.DictReader(fh), 2):
                        try:
                            choices = [row[f"choice{i}"] for i in range(4)]
                            answer = int(row["answer"])
                        except (KeyError, ValueError, TypeError):
                            raise DatasetError(
                                f"{path}:{number}: expected question,choice0..3,answer"
                            ) from None
                        if not 0 <= answer <= 3:
                            raise DatasetError(f"{path}:{number}: answer {answer} is not 0..3")
                        yield {
                            "question": row["question"],
                            "subject": subject,
                            "choices": choices,
                            "answer": answer,
                        }

            key = f"{subject}/{split}"
            out = target / "mmlu" / subject / f"{split}.jsonl"
            rows[key], files[key] = _write(items(), out), str(out.resolve())
    return Converted(benchmark="mmlu", files=files, rows=rows)


def truthfulqa(source: Path, target: Path) -> Converted:
    """v0: the generation schema from TruthfulQA.csv and the multiple-choice schema from mc_task.json."""
    csv_path = _need(source / "truthfulqa" / "v0" / "TruthfulQA.csv")
    mc_path = _need(source / "truthfulqa" / "v0" / "mc_task.json")

    def generation() -> Iterator[dict[str, object]]:
        with csv_path.open(newline="", encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                yield {
                    "type": row["Type"],
                    "category": row["Category"],
                    "question": row["Question"],
                    "best_answer": row["Best Answer"],
                    "correct_answers": [a.strip() for a in row["Correct Answers"].split(";") if a.strip()],
                    "incorrect_answers": [
                        a.strip() for a in row["Incorrect Answers"].split(";") if a.strip()
                    ],
                    "source": row["Source"],
                }

    def targets(mapping: dict[str, int]) -> dict[str, list]:
        return {"choices": list(mapping), "labels": list(mapping.values())}

    def multiple_choice() -> Iterator[dict[str, object]]:
        for item in json.loads(mc_path.read_text()):
            yield {
                "question": item["question"],
                "mc1_targets": targets(item["mc1_targets"]),
                "mc2_targets": targets(item["mc2_targets"]),
            }

    gen_out = target / "truthfulqa" / "generation.jsonl"
    mc_out = target / "truthfulqa" / "multiple_choice.jsonl"
    rows = {"generation": _write(generation(), gen_out), "multiple_choice": _write(multiple_choice(), mc_out)}
    files = {"generation": str(gen_out.resolve()), "multiple_choice": str(mc_out.resolve())}
    return Converted(benchmark="truthfulqa", files=files, rows=rows)


def hellaswag(source: Path, target: Path) -> Converted:
    """Six lines per item (`label: context`, gold index, four endings) to the hub schema.

    This copy's text clean-up differs slightly from the hub's, so its results are the `hellaswag_kitt`
    variant and are never compared with stock HellaSwag figures.
    """
    path = _need(source / "hellaswag" / "hellaswag_val_full.txt.bz2")
    lines = bz2.decompress(path.read_bytes()).decode("utf-8").splitlines()
    if len(lines) % 6:
        raise DatasetError(f"{path}: {len(lines)} lines is not a whole number of 6-line items")

    def items() -> Iterator[dict[str, object]]:
        for index in range(0, len(lines), 6):
            head, gold, endings = lines[index], lines[index + 1], lines[index + 2 : index + 6]
            label, _, context = head.partition(": ")
            if not gold.strip().isdigit() or int(gold) > 3:
                raise DatasetError(f"{path}: item {index // 6 + 1}: gold label {gold!r} is not 0..3")
            yield {
                "ind": index // 6,
                "activity_label": label,
                "ctx_a": context,
                "ctx_b": "",
                "ctx": context,
                "endings": endings,
                "source_id": "",
                "split": "validation",
                "split_type": "indomain",
                "label": gold.strip(),
            }

    out = target / "hellaswag" / "validation.jsonl"
    return Converted(
        benchmark="hellaswag",
        files={"validation": str(out.resolve())},
        rows={"validation": _write(items(), out)},
    )


class _Done(msgspec.Struct, frozen=True):
    stamp: str
    converted: Converted


CONVERTERS = {"gsm8k": gsm8k, "mmlu": mmlu, "truthfulqa": truthfulqa, "hellaswag": hellaswag}


def default_dir() -> Path:
    """The shipped copy: inside the installed package, or the source tree's `datasets/`."""
    package = Path(__file__).resolve().parents[2]
    for candidate in (package / "_datasets", package.parent / "datasets"):
        if candidate.is_dir():
            return candidate
    return package / "_datasets"


def resolve_dir(setting: str | None) -> Path:
    """The dataset directory: the `datasets_dir` setting, else `KITT_DATASETS_DIR`, else the shipped copy."""
    chosen = setting or os.environ.get("KITT_DATASETS_DIR")
    return Path(chosen).expanduser() if chosen else default_dir()


def _stamp(folder: Path) -> str:
    """What the raw files were (names, sizes, times): a changed copy is converted again."""
    entries = sorted(
        f"{p.relative_to(folder)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in folder.rglob("*")
        if p.is_file()
    )
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def prepare(benchmark: str, source: Path, cache: Path) -> Converted:
    """Convert one benchmark's raw files from `source` into `cache`, reusing an earlier conversion."""
    if benchmark not in CONVERTERS:
        raise DatasetError(f"no converter for {benchmark!r}; known: {', '.join(CONVERTERS)}")
    raw = source / benchmark
    if not raw.is_dir():
        raise DatasetError(
            f"dataset directory {source} has no {benchmark}/ folder "
            "(point KITT_DATASETS_DIR or the datasets_dir setting at a copy laid out as datasets/README.md)"
        )
    stamp = f"{raw.resolve()}\n{_stamp(raw)}"
    done = cache / benchmark / "converted.json"
    if done.exists():
        previous = msgspec.json.decode(done.read_bytes(), type=_Done)
        if previous.stamp == stamp and all(Path(f).exists() for f in previous.converted.files.values()):
            return previous.converted
    converted = CONVERTERS[benchmark](source, cache)
    done.write_bytes(msgspec.json.encode(_Done(stamp=stamp, converted=converted)))
    return converted


def source_of(source: Path, benchmark: str) -> str:
    """The SOURCE.txt line that names where the raw copy came from, for the result's settings."""
    path = source / benchmark / "SOURCE.txt"
    if not path.exists():
        return str(source / benchmark)
    first = next((line.strip() for line in path.read_text().splitlines() if line.strip()), "")
    return first or str(source / benchmark)
