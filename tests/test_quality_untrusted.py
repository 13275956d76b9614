"""Task files from outside the trusted directory never run code (security round two, finding 2).

Each attack is a real lm-eval task file run by lm-eval's own loader (through KITT's evaluation worker)
against `tests/scoring.py`'s completions server (vLLM's documented schema; it is not vLLM). Each would
create a marker file if its code ran; the tests assert the refusal and that no marker appeared, and that
the same files still work from the trusted directory.
"""

import json
from pathlib import Path

import pytest

from kitt.bench.quality import custom, runner
from kitt.bench.suites import QualityTest
from kitt.yamlfile import YamlError

HOOKS = """\
from pathlib import Path

Path({marker!r}).write_text("hooks ran")


def text(doc):
    return doc["prompt"]
"""


def _task(name: str, data: Path, **extra: str) -> str:
    lines = [
        f"task: {name}",
        "dataset_path: json",
        f"dataset_kwargs: {{data_files: {{test: {json.dumps(str(data))}}}}}",
        "test_split: test",
        "output_type: generate_until",
        'doc_to_text: "{{prompt}}"',
        'doc_to_target: "{{expected}}"',
        "generation_kwargs: {until: ['\\n'], max_gen_toks: 8}",
        "metric_list: [{metric: exact_match, aggregation: mean, higher_is_better: true}]",
    ]
    return "\n".join([*lines, *(f"{k}: {v}" for k, v in extra.items())]) + "\n"


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(an untrusted folder, the trusted one, the marker file a hook would write)."""
    elsewhere, trusted = tmp_path / "downloads", (tmp_path / "trusted").resolve()
    for folder in (elsewhere, trusted):
        folder.mkdir()
        (folder / "data.jsonl").write_text(json.dumps({"prompt": "Q: 2+2?", "expected": "4"}) + "\n")
    return elsewhere, trusted, tmp_path / "MARKER"


def _refused(path: Path, trusted: Path) -> str:
    with pytest.raises(YamlError) as caught:
        custom.load(path, trusted)
    return str(caught.value)


def _hooked_base(folder: Path, marker: Path) -> Path:
    (folder / "evil.py").write_text(HOOKS.format(marker=str(marker)))
    base = folder / "base.yaml"
    base.write_text(
        _task("base", folder / "data.jsonl").replace(
            'doc_to_text: "{{prompt}}"', "doc_to_text: !function evil.text"
        )
    )
    return base


async def _run(path: Path, trusted: Path, scorer, home: Path):
    test = QualityTest(name="attack", benchmark=str(path), limit=None)
    return await runner.run_test(test, scorer, runner.Context(home, trusted_dir=str(trusted)))


async def test_an_include_list_cannot_smuggle_a_hook(folders, scorer, tmp_path):
    elsewhere, trusted, marker = folders
    _hooked_base(elsewhere, marker)
    wrapper = elsewhere / "wrapper.yaml"
    wrapper.write_text("task: wrapped\ninclude: [base.yaml]\n")
    assert "`!function evil.text` runs code" in _refused(wrapper, trusted)
    result = await _run(wrapper, trusted, scorer, tmp_path / "home")
    assert result.status == "failed" and "`!function evil.text` runs code" in (result.error or "")
    assert not marker.exists()


async def test_a_sibling_with_the_same_task_name_is_not_run(folders, scorer, tmp_path):
    """lm-eval indexes the whole folder it is given: the clean file runs from a copy alone in a folder of
    its own, so the sibling's hook is never even imported."""
    elsewhere, trusted, marker = folders
    clean = elsewhere / "clean.yaml"
    clean.write_text(_task("twin", elsewhere / "data.jsonl"))
    sibling = _hooked_base(elsewhere, marker)
    sibling.write_text(sibling.read_text().replace("task: base", "task: twin"))
    assert custom.load(clean, trusted).config is not None  # accepted, as a copy
    result = await _run(clean, trusted, scorer, tmp_path / "home")
    assert result.status == "succeeded", result.error
    assert not marker.exists()


@pytest.mark.parametrize(
    "template",
    [
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ cycler['__init__'] }}",
        "{{ cycler|attr('__init__') }}",
    ],
)
def test_a_template_that_reaches_python_is_refused_outside_the_trusted_directory(folders, template):
    elsewhere, trusted, _ = folders
    task = elsewhere / "jinja.yaml"
    task.write_text(_task("jinja", elsewhere / "data.jsonl").replace('"{{prompt}}"', json.dumps(template)))
    assert "jinja.yaml: doc_to_text: " in _refused(task, trusted)
    inside = trusted / "jinja.yaml"
    inside.write_text(task.read_text())
    assert custom.load(inside, trusted).config is None  # the trusted directory's files run as written


async def test_a_template_that_builds_its_way_to_python_meets_the_sandbox(folders, scorer, tmp_path):
    """Names computed at render time pass the static check; lm-eval renders them in Jinja's sandbox."""
    elsewhere, trusted, marker = folders
    build = (
        '{% set i = "_" ~ "_init__" %}{% set g = "_" ~ "_globals__" %}'
        f"{{{{ cycler[i][g]['os'].popen('touch {marker}').read() }}}}{{{{prompt}}}}"
    )
    task = elsewhere / "built.yaml"
    task.write_text(_task("built", elsewhere / "data.jsonl").replace('"{{prompt}}"', json.dumps(build)))
    assert custom.load(task, trusted).config is not None
    result = await _run(task, trusted, scorer, tmp_path / "home")
    assert result.status == "failed" and "SecurityError" in (result.error or ""), result.error
    assert not marker.exists()


def test_a_metric_loaded_as_code_is_refused(folders):
    elsewhere, trusted, _ = folders
    (elsewhere / "evil_metric").mkdir()
    by_path = elsewhere / "metric.yaml"
    by_path.write_text(
        _task("m", elsewhere / "data.jsonl").replace("metric: exact_match", "metric: ./evil_metric")
    )
    assert "metric_list[0].metric: './evil_metric' names a path" in _refused(by_path, trusted)
    hf = elsewhere / "hf.yaml"
    hf.write_text(_task("h", elsewhere / "data.jsonl").replace("higher_is_better: true", "hf_evaluate: true"))
    assert "metric_list[0].hf_evaluate: loads the metric's code" in _refused(hf, trusted)


def test_every_include_form_and_depth_is_followed(folders):
    elsewhere, trusted, marker = folders
    _hooked_base(elsewhere, marker)
    (elsewhere / "middle.yaml").write_text("task: middle\ninclude: base.yaml\n")
    absolute = elsewhere / "absolute.yaml"
    absolute.write_text(f"task: abs\ninclude: [{json.dumps(str(elsewhere / 'middle.yaml'))}]\n")
    assert "`!function evil.text` runs code" in _refused(absolute, trusted)
    odd = elsewhere / "odd.yaml"
    odd.write_text("task: odd\ninclude: {a: 1}\n")
    assert "include: expected a file name or a list of them" in _refused(odd, trusted)
