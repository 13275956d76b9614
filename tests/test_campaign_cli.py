"""`kitt campaign ...` as a user types it (subprocesses on a fresh home: each command runs the embedded
runtime, test agents included), and `kitt quicktest` saying simulated."""

import json
import os
import subprocess

import pytest

from tests.test_cli import KITT, kitt

pytestmark = pytest.mark.slow

GOOD = "name: cli\nagent: sim-c\nmodels: [/m/a-broken, /m/b.gguf]\nengines: [llama_cpp, vllm]\n"


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    kitt(home, "agents", "create-test", "sim-c", "--speed", "0.01", "--fail-on", "broken")
    return home


def _file(tmp_path, text: str, name: str = "campaign.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_dry_run_prints_the_plan_and_creates_nothing(home, tmp_path):
    path = _file(tmp_path, GOOD)
    table = kitt(home, "campaign", "run", str(path), "--dry-run").stdout
    assert "3 items to run, 1 skipped" in table and "vLLM cannot serve a gguf model" in table
    plan = json.loads(kitt(home, "campaign", "run", str(path), "--dry-run", "--json").stdout)
    cells = [(i["key"], i["engine"]) for i in plan["items"]]
    assert cells == [("001", "llama_cpp"), ("002", "vllm"), ("003", "llama_cpp")]
    assert json.loads(kitt(home, "campaign", "list", "--json").stdout) == []


def test_run_wait_status_logs_and_resume_only_the_failed(home, tmp_path):
    path = _file(tmp_path, GOOD)
    first = kitt(home, "campaign", "run", str(path), "--wait", "--json", check=False)
    assert first.returncode == 1  # an item failed: not a success
    detail = json.loads(first.stdout)
    assert detail["campaign"]["status"] == "completed_with_failures"
    failed = [i["key"] for i in detail["items"] if i["status"] == "failed"]
    assert len(failed) == 2 and all(i["simulated"] for i in detail["items"])
    campaign_id = detail["campaign"]["campaign_id"]

    status = json.loads(kitt(home, "campaign", "status", "--json").stdout)  # the latest
    assert status["campaign"]["campaign_id"] == campaign_id
    lines = kitt(home, "campaign", "logs", campaign_id).stdout.splitlines()
    assert lines[1] == "launched: 3 items" and lines[-1].startswith("completed: completed_with_failures")
    listed = kitt(home, "campaign", "list").stdout
    assert campaign_id in listed and "completed_with_failures" in listed

    again = kitt(home, "campaign", "run", str(path), "--resume", "--wait", "--json", check=False)
    resumed = json.loads(again.stdout)
    assert resumed["campaign"]["resumes"] == campaign_id
    assert [i["key"] for i in resumed["items"]] == failed  # only what failed, under the same keys
    assert resumed["skipped"] == []


def test_bad_input_is_a_clear_error_and_creates_nothing(home, tmp_path):
    cases = [
        ("name: x\nmodels: [/m/a\nengines: [vllm]\n", "bad-0.yaml: line 3, column 8"),
        ("name: x\nagent: sim-c\nmodels: [/m/a]\nengines: [nope]\n", "unknown engine 'nope'"),
        ("name: x\nagent: ghost\nmodels: [/m/a]\nengines: [vllm]\n", "unknown agent 'ghost'"),
        ("name: x\nagent: sim-c\nmodels: [/m/a.gguf]\nengines: [vllm]\n", "matrix is empty"),
        ("name: x\nagent: sim-c\nmodels: []\nengines: [vllm]\n", "`models` must list at least one"),
        ("name: x\nagent: sim-c\nmodels: [/m/a]\nengines: [vllm]\nretries: 2\n", "unknown field `retries`"),
    ]
    for n, (text, why) in enumerate(cases):
        path = _file(tmp_path, text, f"bad-{n}.yaml")
        result = kitt(home, "campaign", "run", str(path), check=False)
        assert result.returncode == 1 and why in result.stderr, (text, result.stderr)
        assert "Traceback" not in result.stderr
    good = _file(tmp_path, GOOD)
    refused = kitt(home, "campaign", "schedule", str(good), "--cron", "0 25 * * *", check=False)
    assert refused.returncode == 1 and "hour: '25' is outside 0-23" in refused.stderr
    assert json.loads(kitt(home, "campaign", "list", "--json").stdout) == []
    assert json.loads(kitt(home, "campaign", "cron-status", "--json").stdout) == []


def test_schedule_cron_status_and_unschedule(home, tmp_path):
    path = _file(tmp_path, GOOD)
    out = kitt(home, "campaign", "schedule", str(path), "--cron", "0 2 * * *").stdout
    schedule_id = out.split()[1].rstrip(":")
    [row] = json.loads(kitt(home, "campaign", "cron-status", "--json").stdout)
    assert row["schedule_id"] == schedule_id and row["next"].endswith("02:00:00Z")
    assert row["missed_slots"] == 0
    kitt(home, "campaign", "unschedule", schedule_id)
    assert json.loads(kitt(home, "campaign", "cron-status", "--json").stdout) == []


def test_quicktest_on_a_test_agent_says_simulated(home):
    out = kitt(home, "quicktest", "run", "--agent", "sim-c", "-m", "/m/x", "-e", "vllm", "--wait", "--json")
    test = json.loads(out.stdout)
    assert test["status"] == "succeeded" and test["simulated"] is True


def test_create_from_karr_and_from_results(home, tmp_path):
    kitt(home, "quicktest", "run", "--agent", "sim-c", "-m", "/m/x", "-e", "vllm", "--wait")
    target = tmp_path / "again.yaml"
    kitt(home, "campaign", "create", "--from-karr", "--agent", "sim-c", "-o", str(target))
    text = target.read_text()
    assert "models:\n- /m/x" in text and "engines:\n- vllm" in text and "agent: sim-c" in text
    exported = tmp_path / "results"
    exported.mkdir()
    kitt(home, "storage", "export", "-o", str(exported / "all.json"))
    from_files = tmp_path / "from-files.yaml"
    kitt(home, "campaign", "create", "--from-results", str(exported), "-o", str(from_files))
    assert "/m/x" in from_files.read_text()
    plan = json.loads(kitt(home, "campaign", "run", str(target), "--dry-run", "--json").stdout)
    assert [(i["model"], i["engine"]) for i in plan["items"]] == [("/m/x", "vllm")]


def test_the_terminal_wizard_walks_the_six_steps_and_launches(home, tmp_path):
    """prompt_toolkit reading a pipe, as it reads a terminal: each answer a line, typed ahead."""
    target = tmp_path / "wizard.yaml"
    answers = [
        "",  # 1 Basics: a name is required, asked again
        "terminal",
        "made in the terminal",
        "sim-c",  # 2 Agent, by name
        "vllm,llama_cpp",  # 3 Engines
        "/m/a, /m/b.gguf",  # 4 Models: paths on the agent
        "",  # 5 Settings: suite quick (the default)
        "n",
        "n",
        "0",
        "600",
        "y",  # 6 Review, then launch
    ]
    result = subprocess.run(
        [*KITT, "campaign", "wizard", "-o", str(target)],
        input="\n".join(answers) + "\n",
        env={**os.environ, "KITT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for n, step in enumerate(("Basics", "Agent", "Engines", "Models", "Settings", "Review"), start=1):
        assert f"{n}/6 {step}" in out
    assert "3 items to run, 1 skipped" in out and "launched (3 items)" in out
    written = target.read_text()
    assert "name: terminal" in written and "agent: sim-c" in written and "max_retries: 0" in written
    [campaign] = json.loads(kitt(home, "campaign", "list", "--json").stdout)
    assert campaign["name"] == "terminal" and campaign["total_items"] == 3
