"""Quality benchmarks through lm-eval against a server that speaks vLLM's scoring contract.

The server (`kitt.bench.quality.scoringserver`) is a test server written to vLLM's documented response schema
for completions with echo + logprobs and its /tokenize, /detokenize and /tokenizer_info endpoints; it is not
vLLM, and its "model" is a fixed table, so an evaluation's scores are reproducible. The real llama.cpp
server, which cannot echo prompt logprobs, is exercised in test_quality_run.py.
"""

import asyncio
from pathlib import Path

import lm_eval
import lm_eval.tasks
import pytest
from lm_eval.tasks import TaskManager

from kitt.bench.quality import catalog, datasets, runner, taskfiles
from kitt.bench.quality.probe import probe
from kitt.bench.quality.worker import OFFLINE_ENV, model_args
from kitt.bench.suites import QualityTest
from kitt.engines.runtime import Endpoint
from kitt.engines.specs import get as get_spec
from tests.scoring import SOURCE, serve


def _context(tmp_path: Path, **kw) -> runner.Context:
    return runner.Context(tmp_path / "home", datasets_dir=str(SOURCE), **kw)


def _direct(endpoint: Endpoint, benchmark: str, mode: str, limit: int, tmp_path: Path) -> dict:
    """lm-eval called directly, on the same endpoint and the same converted data."""
    converted = datasets.prepare(benchmark, SOURCE, tmp_path / "direct-data")
    subjects = sorted({key.split("/")[0] for key in converted.files}) if benchmark == "mmlu" else []
    variant = catalog.variant(benchmark, mode, subjects)
    stock = Path(lm_eval.tasks.__file__).parent
    folder = taskfiles.write(variant, converted.files, stock, tmp_path / "direct-tasks")
    job = runner._base_job(QualityTest(name="x", benchmark=benchmark), endpoint, mode, tmp_path, variant.run)
    args = model_args(job)
    return lm_eval.simple_evaluate(
        model="local-completions",
        model_args=args,
        tasks=list(variant.run),
        limit=limit,
        task_manager=TaskManager(include_path=str(folder), include_defaults=False),
        log_samples=False,
    )


async def test_loglikelihood_mmlu_scores_exactly_what_lm_eval_scores_directly(scorer, tmp_path, monkeypatch):
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    test = QualityTest(name="mmlu", benchmark="mmlu", limit=2, concurrency=4)
    result = await runner.run_test(test, scorer, _context(tmp_path))
    assert result.status == "succeeded", result.error
    assert (result.kind, result.mode) == ("quality", "loglikelihood")
    assert result.settings["documents"] == 57 * 2 and len(result.samples) == 57 * 2
    assert result.settings["num_fewshot"] == 0 and result.settings["lm_eval_version"] == "0.4.13"

    direct = await asyncio.to_thread(_direct, scorer, "mmlu", "loglikelihood", 2, tmp_path)
    ours = {(m.labels["task"]): m.value for m in result.metrics if m.name == "acc"}
    theirs = {task: scores["acc,none"] for task, scores in direct["results"].items()}
    assert ours == theirs and len(ours) == 57 + 5  # 57 subjects, 4 categories, the mmlu group
    [score] = [m for m in result.metrics if m.name == "score"]
    assert score.value == theirs["mmlu"] and 0 < score.value < 1  # a real spread, not a constant
    anatomy = next(m for m in result.metrics if m.name == "acc" and m.labels.get("subject") == "anatomy")
    assert anatomy.labels["group"] == "mmlu_stem" and anatomy.labels["version"] == "1.0"
    stem = next(m for m in result.metrics if m.name == "acc" and m.labels["task"] == "mmlu_stem")
    assert stem.labels["category"] == "stem"


async def test_probe_refuses_loglikelihood_on_an_engine_that_ignores_echo(no_echo, scorer, tmp_path):
    refused = await probe(no_echo)
    assert not refused.loglikelihood and "does not echo prompt logprobs" in refused.reason
    assert refused.prompt_tokens == 43 and refused.prompt_logprobs == 1
    assert (await probe(scorer)).loglikelihood

    forced = QualityTest(name="mmlu", benchmark="mmlu", mode="loglikelihood", limit=1)
    failed = await runner.run_test(forced, no_echo, _context(tmp_path))
    assert failed.status == "failed" and "would score at chance" in failed.error

    hellaswag = QualityTest(name="hellaswag", benchmark="hellaswag", limit=2)
    skipped = await runner.run_test(hellaswag, no_echo, _context(tmp_path))
    assert skipped.status == "skipped" and "only a loglikelihood variant" in skipped.error


async def test_auto_mode_falls_back_to_the_generative_variant(no_echo, tmp_path):
    test = QualityTest(name="truthfulqa", benchmark="truthfulqa", limit=3, max_gen_toks=16)
    result = await runner.run_test(test, no_echo, _context(tmp_path))
    assert result.status == "succeeded", result.error
    assert result.mode == "generative" and result.settings["tasks"] == "truthfulqa_gen"
    assert {m.name for m in result.metrics} >= {"score", "bleu_acc", "rouge1_max"}
    assert result.settings["documents"] == 3 and "sylinrl/TruthfulQA" in str(
        result.settings["dataset_source"]
    )


async def test_a_missing_or_incomplete_dataset_directory_fails_the_benchmark_clearly(scorer, tmp_path):
    test = QualityTest(name="gsm8k", benchmark="gsm8k", limit=1)
    missing = await runner.run_test(
        test, scorer, runner.Context(tmp_path, datasets_dir=str(tmp_path / "none"))
    )
    assert missing.status == "failed" and "has no gsm8k/ folder" in missing.error

    partial = tmp_path / "partial"
    (partial / "gsm8k").mkdir(parents=True)
    (partial / "gsm8k" / "test.jsonl").write_text((SOURCE / "gsm8k" / "test.jsonl").read_text())
    incomplete = await runner.run_test(test, scorer, runner.Context(tmp_path, datasets_dir=str(partial)))
    assert incomplete.status == "failed" and "dataset file missing" in incomplete.error
    assert "train.jsonl" in incomplete.error


def test_converted_data_is_reused_until_the_raw_copy_changes(tmp_path):
    raw = tmp_path / "raw"
    (raw / "gsm8k").mkdir(parents=True)
    for split in ("test", "train"):
        (raw / "gsm8k" / f"{split}.jsonl").write_text((SOURCE / "gsm8k" / f"{split}.jsonl").read_text())
    first = datasets.prepare("gsm8k", raw, tmp_path / "cache")
    written = Path(first.files["test"]).stat().st_mtime_ns
    assert datasets.prepare("gsm8k", raw, tmp_path / "cache") == first
    assert Path(first.files["test"]).stat().st_mtime_ns == written
    lines = (raw / "gsm8k" / "test.jsonl").read_text().splitlines()[:10]
    (raw / "gsm8k" / "test.jsonl").write_text("\n".join(lines) + "\n")
    assert datasets.prepare("gsm8k", raw, tmp_path / "cache").rows["test"] == 10


@pytest.fixture(scope="module")
def tgi():
    process, port = serve("--flavor", "tgi")
    yield Endpoint(host="127.0.0.1", port=port, model="stub", spec=get_spec("tgi"))
    process.terminate()
    process.wait(10)


async def test_tgi_scores_loglikelihood_through_its_prefill_like_vllm_through_echo(tgi, scorer, tmp_path):
    """The TGI-flavored server is written to TGI's documented /generate and /tokenize schema (it is not
    TGI); its model is the vLLM flavor's, so the same continuations must score the same."""
    capabilities = await probe(tgi)
    assert capabilities.loglikelihood and capabilities.prompt_tokens == 44  # BOS + 43 bytes
    test = QualityTest(name="mmlu", benchmark="mmlu", limit=1, concurrency=4)
    on_tgi = await runner.run_test(test, tgi, _context(tmp_path))
    on_vllm = await runner.run_test(test, scorer, _context(tmp_path))
    assert on_tgi.status == "succeeded", on_tgi.error
    assert on_tgi.mode == on_vllm.mode == "loglikelihood"

    def accuracy(result):
        return {m.labels["task"]: m.value for m in result.metrics if m.name == "acc"}

    assert accuracy(on_tgi) == accuracy(on_vllm) and len(accuracy(on_tgi)) == 62
    assert [s["response"] for s in on_tgi.samples] != [] and len(on_tgi.samples) == 57
