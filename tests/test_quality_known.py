"""Quality scores that must equal a known fraction, and prompts fitted to a short context.

The engine is `tests/knownanswers.py`: it answers a fixed half of the GSM8K and MMLU test questions right
(`knows`) and the rest wrong, and speaks vLLM's completions, tokenizer and models routes (it is not vLLM).
So a score is not 0 = 0 from a random model but the fraction of the questions lm-eval asked that the
engine knows, counted here from the data, and KITT must report exactly that.
"""

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from kitt.bench.quality import datasets, runner
from kitt.bench.suites import QualityTest
from kitt.engines.runtime import Endpoint
from kitt.engines.specs import get as get_spec
from tests.knownanswers import knows
from tests.scoring import SOURCE, serve

GSM8K_DOCS = 10


@contextlib.contextmanager
def _engine(cache: Path, context: int) -> Iterator[Endpoint]:
    flags = ("--datasets", str(SOURCE), "--cache", str(cache), "--context", str(context))
    process, port = serve(*flags, module="tests.knownanswers")
    try:
        yield Endpoint(host="127.0.0.1", port=port, model="known", spec=get_spec("vllm"))
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def roomy(tmp_path_factory):
    with _engine(tmp_path_factory.mktemp("known-cache"), 32768) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def cramped(tmp_path_factory):
    """1,024 tokens a request: a 5-shot GSM8K prompt is 3 to 4 kB, one token a byte here."""
    with _engine(tmp_path_factory.mktemp("known-cache"), 1024) as endpoint:
        yield endpoint


def _context(tmp_path: Path) -> runner.Context:
    return runner.Context(tmp_path / "home", datasets_dir=str(SOURCE))


def _known_fraction(tmp_path: Path, benchmark: str, limit: int) -> float:
    """The share of the questions lm-eval asks (the first `limit` test documents, per MMLU subject) that
    the engine knows, counted from the converted data."""
    converted = datasets.prepare(benchmark, SOURCE, tmp_path / "truth")
    splits = [path for key, path in converted.files.items() if key.split("/")[-1] == "test"]
    asked = [
        json.loads(line)["question"] for path in splits for line in Path(path).read_text().split("\n")[:limit]
    ]
    return sum(knows(q) for q in asked) / len(asked)


def _metric(result, name: str, task: str, flt: str) -> float:
    [value] = [
        m.value
        for m in result.metrics
        if m.name == name and m.labels.get("task") == task and m.labels.get("filter") == flt
    ]
    return value


def _asked(endpoint: Endpoint) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{endpoint.port}/known/requests", timeout=10) as answer:
        return json.load(answer)["completions"]


async def test_gsm8k_scores_exactly_the_known_fraction(roomy, tmp_path):
    expected = _known_fraction(tmp_path, "gsm8k", GSM8K_DOCS)
    assert 0 < expected < 1  # a score that can be wrong in both directions
    test = QualityTest(name="gsm8k", benchmark="gsm8k", limit=GSM8K_DOCS, max_gen_toks=32, concurrency=4)
    result = await runner.run_test(test, roomy, _context(tmp_path))
    assert result.status == "succeeded", result.error
    assert _metric(result, "exact_match", "gsm8k", "strict-match") == expected
    assert _metric(result, "exact_match", "gsm8k", "flexible-extract") == expected
    assert [m.value for m in result.metrics if m.name == "score"] == [expected]
    assert (result.settings["prompts_cut"], result.settings["documents"]) == (0, GSM8K_DOCS)


async def test_generative_mmlu_scores_exactly_the_known_fraction(roomy, tmp_path):
    expected = _known_fraction(tmp_path, "mmlu", 1)
    assert 0 < expected < 1
    test = QualityTest(name="mmlu", benchmark="mmlu", limit=1, max_gen_toks=4, concurrency=4)
    result = await runner.run_test(test, roomy, _context(tmp_path))
    assert result.status == "succeeded", result.error
    assert result.mode == "generative" and "does not echo" in str(result.settings["mode_reason"])
    assert result.settings["documents"] == 57
    assert [m.value for m in result.metrics if m.name == "score"] == [expected]


async def test_prompts_longer_than_the_context_are_cut_and_still_score_the_same(cramped, tmp_path):
    """Every 5-shot prompt is over 1,024 - 32 tokens: each loses its oldest shots, keeps its question,
    and is answered as before; the result counts the cuts."""
    test = QualityTest(name="gsm8k", benchmark="gsm8k", limit=GSM8K_DOCS, max_gen_toks=32, concurrency=4)
    result = await runner.run_test(test, cramped, _context(tmp_path))
    assert result.status == "succeeded", result.error
    settings = result.settings
    assert (settings["engine_context"], settings["max_length"]) == (1024, 1024)
    assert settings["prompts_cut"] == GSM8K_DOCS and settings["prompt_tokens_max"] > 1024
    # one token a byte: the longest prompt lost exactly what it had over the room (a cut inside a
    # multi-byte character would cost a token or two more; GSM8K's questions are ASCII)
    assert settings["prompt_cut_tokens_max"] == settings["prompt_tokens_max"] - (1024 - 32)
    expected = _known_fraction(tmp_path, "gsm8k", GSM8K_DOCS)
    assert _metric(result, "exact_match", "gsm8k", "strict-match") == expected


async def test_an_engine_without_a_tokenizer_fails_before_the_first_request(cramped, tmp_path):
    """It states its context (1,024) but KITT cannot count its tokens: prompts that may not fit, by the
    bound that a token is at least a byte, fail the benchmark before any is sent, naming both sizes."""
    blind = msgspec.structs.replace(cramped, spec=msgspec.structs.replace(cramped.spec, tokenize_api=None))
    before = _asked(cramped)
    test = QualityTest(name="gsm8k", benchmark="gsm8k", limit=2, max_gen_toks=32)
    result = await runner.run_test(test, blind, _context(tmp_path))
    assert result.status == "failed"
    assert result.error.startswith(
        "prompts do not fit the engine's context: vLLM holds 1024 tokens a request and offers no "
        "tokenizer endpoint KITT can cut prompts with; the longest prompt is "
    )
    assert "32 tokens are kept for the answer" in result.error
    assert _asked(cramped) == before  # nothing was sent


async def test_prompts_unchecked_where_nothing_is_known_get_the_engines_refusal(cramped, tmp_path):
    """No tokenizer and no stated context: the prompts go as they are, and the engine's own refusal is
    the benchmark's error, quoted."""
    spec = msgspec.structs.replace(cramped.spec, tokenize_api=None, context_path=None)
    test = QualityTest(name="gsm8k", benchmark="gsm8k", limit=1, max_gen_toks=32)
    result = await runner.run_test(test, msgspec.structs.replace(cramped, spec=spec), _context(tmp_path))
    assert result.status == "failed"
    assert result.error.startswith("lm-eval exited with status 1: the engine refused a request: ")
    assert "This model's maximum context length is 1024 tokens" in result.error


async def test_a_suites_max_length_caps_the_engines_context(roomy, tmp_path):
    test = QualityTest(name="g", benchmark="gsm8k", limit=2, max_gen_toks=32, max_length=1500)
    result = await runner.run_test(test, roomy, _context(tmp_path))
    assert result.status == "succeeded", result.error
    settings = result.settings
    assert (settings["engine_context"], settings["max_length"], settings["prompts_cut"]) == (32768, 1500, 2)
    assert settings["prompt_cut_tokens_max"] == settings["prompt_tokens_max"] - (1500 - 32)
