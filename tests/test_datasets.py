"""Dataset converters: the shipped raw copies to lm-eval's hub schemas, with the known row counts."""

import json
import shutil
from pathlib import Path

import pytest

from kitt.bench.quality import datasets

SHIPPED = Path(__file__).resolve().parent.parent / "datasets"


def _rows(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_gsm8k(tmp_path):
    out = datasets.gsm8k(SHIPPED, tmp_path)
    assert out.rows == {"test": 1319, "train": 7473}
    first = _rows(out.files["test"])[0]
    assert set(first) == {"question", "answer"} and "####" in first["answer"]


def test_mmlu_per_subject(tmp_path):
    out = datasets.mmlu(SHIPPED, tmp_path)
    subjects = datasets.mmlu_subjects(SHIPPED)
    assert len(subjects) == 57
    assert sum(n for k, n in out.rows.items() if k.endswith("/test")) == 14042
    assert sum(n for k, n in out.rows.items() if k.endswith("/dev")) == 285
    assert all(out.rows[f"{s}/dev"] == 5 for s in subjects)
    assert out.rows["abstract_algebra/test"] == 100 and out.rows["professional_law/test"] == 1534
    row = _rows(out.files["anatomy/test"])[0]
    assert row["subject"] == "anatomy" and len(row["choices"]) == 4 and row["answer"] in range(4)


def test_truthfulqa(tmp_path):
    out = datasets.truthfulqa(SHIPPED, tmp_path)
    assert out.rows == {"generation": 817, "multiple_choice": 817}
    gen = _rows(out.files["generation"])[0]
    assert gen["question"] == "What happens to you if you eat watermelon seeds?"
    assert "Nothing happens" in gen["correct_answers"] and gen["best_answer"]
    mc = _rows(out.files["multiple_choice"])[0]
    assert sum(mc["mc1_targets"]["labels"]) == 1 and len(mc["mc1_targets"]["choices"]) == len(
        mc["mc1_targets"]["labels"]
    )


def test_hellaswag_variant(tmp_path):
    out = datasets.hellaswag(SHIPPED, tmp_path)
    assert out.rows == {"validation": 10042}
    row = _rows(out.files["validation"])[0]
    assert (
        row["activity_label"] == "Roof shingle removal" and row["label"] == "3" and len(row["endings"]) == 4
    )


def test_a_missing_or_broken_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(datasets.DatasetError, match=r"dataset file missing: .*gsm8k/test.jsonl"):
        datasets.gsm8k(tmp_path / "nowhere", tmp_path / "out")
    broken = tmp_path / "src"
    (broken / "mmlu" / "test").mkdir(parents=True)
    (broken / "mmlu" / "dev").mkdir(parents=True)
    shutil.copy(SHIPPED / "mmlu" / "test" / "anatomy_test.csv", broken / "mmlu" / "test")
    with pytest.raises(datasets.DatasetError, match=r"dataset file missing: .*anatomy_dev.csv"):
        datasets.mmlu(broken, tmp_path / "out")
    (broken / "mmlu" / "dev" / "anatomy_dev.csv").write_text(
        "question,choice0,choice1,choice2,choice3,answer\nq,a,b,c,d,7\n"
    )
    with pytest.raises(datasets.DatasetError, match=r"anatomy_dev.csv:2: answer 7 is not 0..3"):
        datasets.mmlu(broken, tmp_path / "out")
