"""Custom quality benchmarks: validation with precise errors, the trusted directory, scoring rules, and
lm-eval failures (a crash, a hang) reported as the benchmark's failure.

Evaluations run against `kitt.bench.quality.scoringserver`, a test server written to vLLM's documented
completions schema (see test_quality.py); it is not vLLM.
"""

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest

from kitt.bench.quality import custom, runner, scoring
from kitt.bench.suites import QualityTest
from kitt.children import free_port
from kitt.engines.runtime import Endpoint
from kitt.engines.specs import get as get_spec
from kitt.yamlfile import YamlError
from tests.engineprocs import own_processes
from tests.scoring import SOURCE
from tests.test_cli import kitt

SIMPLE = """\
name: capitals
scoring: exact
max_tokens: 8
stop: ["\\n"]
items:
  - prompt: "Q: capital of France?"
    expected: Paris
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _error(path: Path, trusted: Path | None = None) -> str:
    with pytest.raises(YamlError) as caught:
        custom.load(path, trusted)
    return str(caught.value)


def test_simple_format_errors_name_file_line_and_field(tmp_path):
    ok = custom.load(_write(tmp_path, "ok.yaml", SIMPLE))
    assert (ok.format, ok.mode, ok.name) == ("kitt", "generative", "kitt_custom_capitals")
    assert len(ok.simple.items) == 1

    broken = _write(tmp_path, "broken.yaml", SIMPLE.replace("max_tokens: 8", "max_tokens: [8"))
    assert _error(broken).startswith(f"{broken}: line 4")
    unknown = _write(tmp_path, "unknown.yaml", SIMPLE.replace("    expected: Paris", "    expect: Paris"))
    message = _error(unknown)
    assert f"{unknown}: line 7" in message and "expect" in message
    scoring_rule = _write(tmp_path, "rule.yaml", SIMPLE.replace("scoring: exact", "scoring: fuzzy"))
    assert "line 2" in _error(scoring_rule) and "scoring" in _error(scoring_rule)
    regex = _write(tmp_path, "regex.yaml", SIMPLE.replace("exact", "regex").replace("Paris", "'Par(is'"))
    assert "items[0].expected: not a regular expression" in _error(regex)
    numeric = _write(tmp_path, "num.yaml", SIMPLE.replace("exact", "numeric"))
    assert "items[0].expected: 'Paris' is not a number" in _error(numeric)
    empty = _write(tmp_path, "empty.yaml", "name: x\nitems: []\n")
    assert "at least one item" in _error(empty)
    neither = _write(tmp_path, "neither.yaml", "hello: world\n")
    assert "neither KITT's format" in _error(neither)


LM_EVAL_TASK = """\
task: my_task
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{expected}}}}"
process_results: !function hooks.score
"""


def test_function_hooks_only_from_the_trusted_directory(tmp_path):
    trusted = tmp_path / "trusted"
    text = LM_EVAL_TASK.format(data="data.jsonl")
    outside = _write(tmp_path / "elsewhere", "task.yaml", text)
    assert "line 10: `!function hooks.score` runs code" in _error(outside, trusted)
    assert "line 10" in _error(outside, None)  # no trusted directory configured: refused too
    inside = _write(trusted, "task.yaml", text)
    found = custom.load(inside, trusted.resolve())
    assert (found.format, found.name, found.mode) == ("lm-eval", "my_task", "generative")

    no_task = _write(tmp_path, "no_task.yaml", "dataset_path: json\n")
    assert "needs `task:`" in _error(no_task)
    bad_include = _write(tmp_path, "inc.yaml", "task: t\ninclude: missing.yaml\n")
    assert "line 2: include: 'missing.yaml' is not a file" in _error(bad_include)
    bad_type = _write(tmp_path, "type.yaml", "task: t\ndataset_path: json\noutput_type: essay\n")
    assert "line 3: output_type 'essay'" in _error(bad_type)


def test_function_hooks_are_checked_through_the_include_chain(tmp_path):
    """A harmless-looking file outside the trusted directory cannot run code by including one that does,
    nor can a trusted file lend its trust to a hook it includes from elsewhere."""
    trusted = (tmp_path / "trusted").resolve()
    hooked = _write(tmp_path / "elsewhere", "base.yaml", LM_EVAL_TASK.format(data="data.jsonl"))
    wrapper = _write(tmp_path / "elsewhere", "wrapper.yaml", "task: wrapped\ninclude: base.yaml\n")
    message = _error(wrapper, trusted)
    assert message.startswith(f"{hooked}: line 10: `!function hooks.score` runs code")
    assert f"(included from {wrapper})" in message
    deep = _write(tmp_path / "elsewhere", "deep.yaml", "task: deeper\ninclude: wrapper.yaml\n")
    assert "`!function hooks.score` runs code" in _error(deep, trusted)
    lending = _write(trusted, "lend.yaml", f"task: lent\ninclude: {hooked}\n")
    assert "`!function hooks.score` runs code" in _error(lending, trusted)
    _write(trusted, "base.yaml", LM_EVAL_TASK.format(data="data.jsonl"))
    fine = _write(trusted, "fine.yaml", "task: fine\ninclude: base.yaml\n")
    assert custom.load(fine, trusted).mode == "generative"  # hooks from the trusted directory: accepted
    loop = _write(tmp_path / "loop", "a.yaml", "task: a\ninclude: b.yaml\n")
    _write(tmp_path / "loop", "b.yaml", "task: b\ninclude: a.yaml\ndataset_path: json\n")
    assert custom.load(loop, trusted).name == "a"  # a cycle ends the chain, it does not hang


def test_scoring_rules():
    assert scoring.exact(["Paris"], [" paris "]) == 1.0
    assert scoring.exact(["Paris"], ["paris"], ignore_case=False) == 0.0
    assert scoring.contains(["Paris"], ["It is Paris."]) == 1.0
    assert scoring.contains(["Lyon"], ["It is Paris."]) == 0.0
    assert scoring.regex([r"^\d{4}$"], ["1969"]) == 1.0 and scoring.regex([r"^\d{4}$"], ["in 1969"]) == 0.0
    assert scoring.numeric(["1,234"], ["so the answer is 1234.0"]) == 1.0
    assert scoring.numeric(["42"], ["41 or 43"]) == 0.0 and scoring.numeric(["3"], ["none"]) == 0.0


def _generate(endpoint: Endpoint, prompt: str, max_tokens: int) -> str:
    body = json.dumps({"model": "stub", "prompt": prompt, "max_tokens": max_tokens, "stop": ["\n"]}).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(f"{endpoint.url}/v1/completions", body, headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["choices"][0]["text"]


async def test_a_custom_benchmark_is_scored_by_its_rule(scorer, tmp_path):
    answer = await asyncio.to_thread(_generate, scorer, "Q: capital of France?", 8)
    assert answer.strip()
    text = SIMPLE.replace("Paris", json.dumps(answer.strip())) + (
        '  - prompt: "Q: capital of Peru?"\n    expected: "no model says this"\n'
    )
    home = tmp_path / "home"
    _write(home / "benchmarks", "capitals.yaml", text)
    test = QualityTest(name="capitals", benchmark="capitals", limit=None)
    result = await runner.run_test(test, scorer, runner.Context(home, datasets_dir=str(SOURCE)))
    assert result.status == "succeeded", result.error
    assert (result.kind, result.mode) == ("custom", "generative")
    [score] = [m for m in result.metrics if m.name == "score"]
    assert score.value == 0.5 and score.labels["metric"] == "kitt_exact"
    assert [s["kitt_exact"] for s in result.samples] == [1.0, 0.0]
    assert result.settings["custom_format"] == "kitt" and result.settings["documents"] == 2


async def test_an_lm_eval_crash_fails_the_benchmark_with_its_last_lines(scorer, tmp_path):
    task = _write(tmp_path / "tasks", "broken.yaml", LM_EVAL_TASK.format(data=tmp_path / "absent.jsonl"))
    task.write_text(task.read_text().replace("process_results: !function hooks.score\n", ""))
    test = QualityTest(name="broken", benchmark=str(task))
    result = await runner.run_test(test, scorer, runner.Context(tmp_path))
    assert result.status == "failed" and result.kind == "custom"
    assert "lm-eval exited with status 1; its last lines:" in result.error
    assert "absent.jsonl" in result.error


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # accept, read, never answer


@pytest.mark.slow  # waits out an evaluation deadline
async def test_a_hung_evaluation_is_stopped_at_its_deadline(tmp_path):
    port = free_port()
    server = await asyncio.start_server(_silent, "127.0.0.1", port)
    hung = Endpoint(host="127.0.0.1", port=port, model="stub", spec=get_spec("llama_cpp"))
    path = _write(tmp_path, "capitals.yaml", SIMPLE)
    test = QualityTest(name="capitals", benchmark=str(path), timeout_s=20)
    try:
        result = await runner.run_test(test, hung, runner.Context(tmp_path))
    finally:
        server.close()
    assert result.status == "failed" and result.error == "lm-eval did not finish within 20 s and was stopped"
    assert own_processes("kitt.bench.quality.worker") == []  # this worker's, not another's evaluation


def test_kitt_test_new_list_and_validate(tmp_path):
    home = tmp_path / "home"
    created = kitt(home, "test", "new", "smoke")
    target = home / "benchmarks" / "smoke.yaml"
    assert str(target) in created.stdout and target.exists()
    assert "ok:" in kitt(home, "test", "validate", str(target)).stdout
    again = kitt(home, "test", "new", "smoke", check=False)
    assert again.returncode == 1 and "not overwriting" in again.stderr

    rows = {r["name"]: r for r in json.loads(kitt(home, "test", "list", "--json").stdout)}
    assert rows["smoke"]["kind"] == "custom" and rows["mmlu"]["modes"] == "loglikelihood,generative"
    assert rows["quality-quick"]["kind"] == "suite" and rows["gsm8k"]["note"] == "data present"

    bad = _write(tmp_path, "bad.yaml", SIMPLE.replace("scoring: exact", "scoring: 42"))
    checked = kitt(home, "test", "validate", str(target), str(bad), check=False)
    assert checked.returncode == 1 and f"invalid: {bad}: line 2" in checked.stderr
