"""The real Docker daemon for tests: it must be up (the README's test command starts dockerd), and the
local Debian base image is made once (docker/local-base.sh) for images to build on, since no registry is
reachable here."""

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASE = "kitt/debian:bookworm"
LLAMA_IMAGE = "kitt/llama-cpp:cpu"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=600)


def require_daemon() -> None:
    try:
        up = docker("version", "--format", "{{.Server.Version}}", check=False)
    except FileNotFoundError:
        pytest.fail(
            "these tests need Docker: the README's test command installs docker.io and starts dockerd"
        )
    if up.returncode != 0:
        pytest.fail(f"the Docker daemon is not answering ({up.stderr.strip()}): start dockerd")


def base_image() -> str:
    require_daemon()
    subprocess.run(["bash", str(ROOT / "docker" / "local-base.sh"), BASE], check=True, timeout=900)
    return BASE


def managed_containers() -> list[str]:
    return docker("ps", "-aq", "--filter", "label=kitt.managed=true").stdout.split()


def image(name: str) -> dict:
    return json.loads(docker("image", "inspect", name).stdout)[0]
