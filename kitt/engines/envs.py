"""Engines in environments of their own: the native runtime's counterpart of an engine's image.

`kitt engines setup vllm --runtime native` makes a virtual environment under `KITT_HOME/engines/vllm/`
(or `KITT_ENGINES_DIR/vllm/`) and installs the engine into it, so KITT's own environment never imports
the engine nor shares its pins. The environment is complete only once its marker, `kitt-engine.json`, is
written last; a folder without one is a failed or interrupted install and is removed, never used.
"""

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec

MARKER = "kitt-engine.json"


class EngineEnv(msgspec.Struct, frozen=True, kw_only=True):
    """An installed engine environment, as its marker records it."""

    engine: str
    flavour: str  # "cpu" | "cuda"
    recipe: str  # what was asked for, pinned: the key a test cache reuses it by
    versions: dict[str, str]  # distribution → version, as installed
    installed_at: datetime
    path: str = ""  # filled in on reading: where it is

    def describe(self) -> str:
        pinned = ", ".join(f"{name} {version}" for name, version in sorted(self.versions.items()))
        return f"{self.flavour} build: {pinned}"

    def executable(self, name: str) -> Path:
        return Path(self.path) / "bin" / name


def root(home: Path | None = None) -> Path:
    """Where engine environments live: KITT_ENGINES_DIR, else KITT_HOME/engines (KITT_HOME: ~/.kitt)."""
    if configured := os.environ.get("KITT_ENGINES_DIR"):
        return Path(configured).expanduser()
    base = home or Path(os.environ.get("KITT_HOME", "~/.kitt")).expanduser()
    return base / "engines"


def installed(engine: str, where: Path | None = None) -> EngineEnv | None:
    """The engine's environment if one was installed completely, else None."""
    folder = (where or root()) / engine
    try:
        found = msgspec.json.decode((folder / MARKER).read_bytes(), type=EngineEnv)
    except (OSError, msgspec.DecodeError):
        return None
    return msgspec.structs.replace(found, path=str(folder))


def write_marker(folder: Path, env: EngineEnv) -> EngineEnv:
    recorded = msgspec.structs.replace(env, path="")
    (folder / MARKER).write_bytes(msgspec.json.encode(recorded))
    return msgspec.structs.replace(env, path=str(folder))


def now() -> datetime:
    return datetime.now(UTC)


def python_of(folder: Path) -> Path:
    return folder / "bin" / "python"


Step = Callable[[str], None]  # told what the install is doing now

BASE_PYTHON = sys.executable
