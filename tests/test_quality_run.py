"""`kitt run -s quality-quick` end to end on the real llama.cpp server with the tiny GGUF model.

llama.cpp cannot echo prompt logprobs, so the probe sends MMLU to its generative variant; GSM8K is
generative anyway. Random weights score near zero: these tests check the plumbing and the counts, on
SQLite and PostgreSQL.
"""

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kitt.projections.models import MetricRow
from kitt.storage import queries
from tests.test_cli import kitt
from tests.test_run_cli import run_native

# A real llama-server and lm-eval: the fast tier keeps quality through tests/test_quality.py's scoring server.
pytestmark = pytest.mark.slow


async def test_quality_quick_on_llama_cpp_lands_in_karr(tmp_path, model, database_url, engine):
    home, env = tmp_path / "home", {"KITT_DATABASE_URL": database_url}
    out = run_native(home, model, "-s", "quality-quick", "--json", env=env)
    outcome = json.loads(out.stdout)
    assert outcome["status"] == "succeeded", outcome["error"]
    gsm8k, mmlu = outcome["benchmarks"]
    assert (gsm8k["name"], gsm8k["kind"], gsm8k["mode"]) == ("gsm8k", "quality", "generative")
    assert (mmlu["name"], mmlu["kind"], mmlu["mode"]) == ("mmlu", "quality", "generative")
    assert gsm8k["settings"]["documents"] == 5 and gsm8k["settings"]["num_fewshot"] == 5
    # Per-document samples travel out of band, on the RECORDS stream, like a load test's records.
    assert gsm8k["samples"] == [] and gsm8k["records"]["count"] == 5 * 2  # strict and flexible, per document
    assert mmlu["settings"]["documents"] == 57 and mmlu["records"]["count"] == 57
    assert mmlu["settings"]["tasks"] == "mmlu_generative" and mmlu["settings"]["lm_eval_version"] == "0.4.13"
    # auto ran it generatively because llama.cpp echoes no prompt logprobs: the result says so.
    assert mmlu["settings"]["mode_reason"].startswith("loglikelihood tasks refused for llama.cpp: ")
    assert gsm8k["settings"]["mode_reason"] is None  # it has no loglikelihood variant to fall back from
    assert "grade-school-math" in gsm8k["settings"]["dataset_source"]
    # prompts are fitted to what the engine holds per request (llama.cpp's /props): the suite set no cap
    context = gsm8k["settings"]["engine_context"]
    assert context > 0 and gsm8k["settings"]["max_length"] == context

    [doc] = await queries.documents(engine, [outcome["run_id"]])
    assert [b.name for b in doc.benchmarks] == ["gsm8k", "mmlu"]
    subjects = {m.labels["subject"] for m in doc.benchmarks[1].metrics if "subject" in m.labels}
    assert len(subjects) == 57 and "anatomy" in subjects
    async with engine.connect() as conn:
        rows = await conn.scalar(
            select(func.count()).select_from(MetricRow).where(MetricRow.run_id == outcome["run_id"])
        )
    assert rows == sum(len(b.metrics) for b in doc.benchmarks) and rows > 57 * 2


def test_a_custom_benchmark_in_a_user_suite_runs_on_llama_cpp(tmp_path, model):
    home = tmp_path / "home"
    kitt(home, "test", "new", "smoke")
    suite = tmp_path / "mine.yaml"
    suite.write_text(
        "name: mine\ntests:\n"
        "  - {kind: quality, name: smoke, benchmark: smoke}\n"
        "  - {kind: quality, name: hellaswag, benchmark: hellaswag, limit: 2}\n"
    )
    outcome = json.loads(run_native(home, model, "-s", str(suite), "--json").stdout)
    smoke, hellaswag = outcome["benchmarks"]
    assert (smoke["kind"], smoke["status"], smoke["settings"]["documents"]) == ("custom", "succeeded", 2)
    assert [m["name"] for m in smoke["metrics"]][:2] == ["score", "score_stderr"]
    # HellaSwag has only a loglikelihood variant, which llama.cpp cannot serve: skipped with the reason.
    assert hellaswag["status"] == "skipped" and "does not echo prompt logprobs" in hellaswag["error"]
    assert outcome["status"] == "succeeded"


def test_a_failed_quality_benchmark_fails_the_run_with_the_reason(tmp_path, model):
    home = tmp_path / "home"
    suite = Path(tmp_path / "bad.yaml")
    test = "{kind: quality, name: m, benchmark: mmlu, mode: loglikelihood}"
    suite.write_text(f"name: bad\ntests:\n  - {test}\n")
    result = run_native(home, model, "-s", str(suite), "--json", check=False)
    assert result.returncode == 1
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "failed" and "loglikelihood tasks refused for llama.cpp" in outcome["error"]
    [run] = json.loads(kitt(home, "storage", "list", "--json").stdout)
    assert run["status"] == "failed"


def _short(tmp_path: Path, context: int, max_gen_toks: int) -> tuple[Path, Path]:
    """A home with llama.cpp's profile `short` (`-c CONTEXT`) and a one-test GSM8K suite."""
    home, suite = tmp_path / "home", tmp_path / "short.yaml"
    test = f"{{kind: quality, name: gsm8k, benchmark: gsm8k, limit: 5, max_gen_toks: {max_gen_toks}}}"
    suite.write_text(f"name: short\ntests:\n  - {test}\n")
    kitt(home, "engines", "profiles", "save", "short", "-e", "llama_cpp", "--", "-c", str(context))
    return home, suite


def test_gsm8k_on_a_2048_token_context_is_cut_to_fit(tmp_path, model):
    """The 5-shot GSM8K prompts are longer than 2,048 of the tiny model's tokens: each is cut from the left
    with llama.cpp's own /tokenize and /detokenize to the context less the answer's 64 tokens, as lm-eval
    cuts with a local tokenizer, and the result says how many were cut and by how much."""
    home, suite = _short(tmp_path, 2048, 64)
    outcome = json.loads(run_native(home, model, "-s", str(suite), "--profile", "short", "--json").stdout)
    [gsm8k] = outcome["benchmarks"]
    assert gsm8k["status"] == "succeeded", gsm8k["error"]
    settings = gsm8k["settings"]
    assert (settings["engine_context"], settings["max_length"], settings["documents"]) == (2048, 2048, 5)
    assert settings["prompt_fitting"] == "the engine's tokenizer (/tokenize, /detokenize)"
    longest, room = settings["prompt_tokens_max"], 2048 - 64
    assert longest > room and 1 <= settings["prompts_cut"] <= 5
    # the longest prompt lost what it had over the room, and at most a few tokens more (a cut between two
    # merged pieces re-tokenizes longer, and is cut again)
    assert longest - room <= settings["prompt_cut_tokens_max"] <= longest - room + 8


def test_a_context_with_no_room_for_a_prompt_fails_before_the_first_request(tmp_path, model):
    home, suite = _short(tmp_path, 64, 300)  # llama.cpp holds 256 tokens at least, whatever -c says
    result = run_native(home, model, "-s", str(suite), "--profile", "short", "--json", check=False)
    assert result.returncode == 1
    [gsm8k] = json.loads(result.stdout)["benchmarks"]
    assert gsm8k["status"] == "failed"
    assert gsm8k["error"] == (
        "prompts do not fit the engine's context: llama.cpp holds 256 tokens a request, which leaves no "
        "room for a prompt beside the 300 tokens kept for the answer (max_gen_toks)"
    )
