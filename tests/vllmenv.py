"""The vLLM environment the slow tier's real-vLLM tests use: built once per machine, keyed by the pinned
recipe (KITT_TEST_ENGINES_DIR, default ~/.cache/kitt-tests/engines/KEY), through the CLI as a user builds
it (`kitt engines setup vllm --runtime native --build cpu`).

It is built before any test starts (`tests/conftest.py`'s session start, in the process that hands out the
tests, and only when the slow tier is selected), because building it is not a test: about 80 s on an idle
machine, three times that under four busy workers, which no test's 180 s budget should carry.
"""

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from kitt.engines import envs, install

SETUP_TIMEOUT_S = 900


def folder() -> Path:
    _, recipe = install.recipe("vllm", gpu=False)
    key = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    return Path(os.environ.get("KITT_TEST_ENGINES_DIR", "~/.cache/kitt-tests/engines")).expanduser() / key


def ensure() -> tuple[Path, str | None]:
    """The folder, the environment built in it when missing; and the CLI's output when that failed."""
    base = folder()
    base.mkdir(parents=True, exist_ok=True)
    with (base / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session on this machine may be building it
        if envs.installed("vllm", base) is not None:
            return base, None
        setup = ("engines", "setup", "vllm", "--runtime", "native", "--build", "cpu")
        made = subprocess.run(
            [sys.executable, "-m", "kitt.cli.main", *setup],
            env={**os.environ, "KITT_ENGINES_DIR": str(base), "KITT_HOME": str(base / "home")},
            capture_output=True,
            text=True,
            timeout=SETUP_TIMEOUT_S,
        )
    if made.returncode != 0 or "vLLM: cpu build: " not in made.stdout:
        return base, f"exit {made.returncode}\n{made.stdout[-2000:]}\n{made.stderr[-3000:]}"
    return base, None


def installed_already() -> bool:
    return envs.installed("vllm", folder()) is not None
