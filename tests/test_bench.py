"""Every benchmark under bench/ still runs: each at its `--smoke` size, as a user starts it
(`python bench/X.py`), in its own temp home. Nothing is asserted about the figures (they are measured, not
asserted, and meaningless at this size); what is asserted is that the script finishes cleanly and prints
the lines that carry its figures, so a benchmark that rots (an import gone, an API that now needs a token)
fails here instead of on the day someone needs it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # each starts real servers (nats-server, kitt up, influxd, lm-eval workers)

FIGURES = r"[\d.,]+"
CASES = {
    "agents.py": [
        rf"6 tests on 2 agents in {FIGURES} s \({FIGURES} tests/s\)",
        rf"request-to-start, idle agent .*: p50 {FIGURES} ms",
        r"EVENTS: \d+ events",
    ],
    "campaigns.py": [
        r"campaign: 6 items on 2 simulated agents, status \w+",
        rf"manager overhead, .*: p50 {FIGURES} ms",
        rf"events per item: {FIGURES}",
    ],
    "events.py": [r"\(c\) lag at .* p50 \d+ ms"],
    "influx.py": [
        r"5 runs, 20 events, 280 figures; points in InfluxDB: \d+",
        rf"influxdb / karr time: {FIGURES}",
    ],
    "quality.py": [
        r"gsm8k \(generative, limit 2, 1 rounds\): KITT .* scores identical: \w+",
        r"mmlu \(loglikelihood, limit 2, 1 rounds\): KITT .* scores identical: \w+",
    ],
    "loadgen.py": [
        rf"^kitt\s+c=8\s+{FIGURES} req/s \| TTFT p50",
        rf"^raw-socket c=8\s+{FIGURES} req/s",
        r"soak: peak RSS: kitt run's processes \d+ MiB",
        rf"decode of a finished 100-token stream: one pass {FIGURES} µs, event by event {FIGURES} µs",
    ],
    "api.py": [
        rf"API results list \(50 runs\)\s+{FIGURES} req/s, p50 \S+, p99 \S+, non-2xx 0",
        rf"UI run page \(charts\)\s+{FIGURES} req/s, .*non-2xx 0",
        rf"SSE fan-out: 3 browsers x 5 lines .* p50 {FIGURES} ms.* \(15 receipts\)",
    ],
}


def _smoke(
    script: str, cwd: Path, env: dict[str, str], *args: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """`python bench/SCRIPT --smoke ARGS` as a user starts it; it must finish cleanly. Returns what it
    printed, and the tails of both streams for a failure's message."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--smoke", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    shown = f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, shown
    return done, shown


@pytest.mark.parametrize("script", sorted(CASES))
def test_a_benchmark_runs_at_its_smoke_size(script: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KITT_HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path),
    }
    for name in ("KITT_NATS_URL", "KITT_DATABASE_URL", "KITT_AUTH_TOKEN"):
        env.pop(name, None)
    done, shown = _smoke(script, tmp_path, env)
    missing = [line for line in CASES[script] if not re.search(line, done.stdout, re.MULTILINE)]
    assert missing == [], f"no line matched {missing}\n{shown}"


def test_the_flake_hunt_counts_a_round(tmp_path: Path) -> None:
    target = "tests/test_deciders.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done, shown = _smoke("flakes.py", ROOT, env, target)
    assert "1 rounds, 1 CPU burners beside them" in done.stdout, shown
    assert re.search(r"^\s*\d+ passed\s+0 failed\s+0 errors\s+tests", done.stdout, re.MULTILINE), shown


def test_every_benchmark_has_a_smoke_case() -> None:
    scripts = {p.name for p in (ROOT / "bench").glob("*.py")}
    # imported by others / tested above / tested with the real vLLM (tests/test_vllm.py)
    libraries = {"refclient.py", "soak.py", "flakes.py", "vllm.py"}
    assert scripts - libraries == set(CASES)
