"""The real Docker daemon for tests: it must be up (the README's test command starts dockerd), and the
local Debian base image is made once (docker/local-base.sh) for images to build on, since no registry is
reachable here."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASE = "kitt/debian:bookworm"
LLAMA_IMAGE = "kitt/llama-cpp:cpu"
EXTRAS = ROOT / "docker" / "build-extras"


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


def _pip_cert() -> str | None:
    """The CA bundle this host's pip trusts (a proxy's), which the build needs and the image must not keep."""
    if os.environ.get("PIP_CERT"):
        return os.environ["PIP_CERT"]
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    for line in listed.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(".cert"):
            return value.strip().strip("'\"")
    return None


def build_kitt_image() -> str:
    """`docker build -t kitt .` of this checkout on the local base, with this host's pip CA for the build."""
    base = base_image()
    cert = _pip_cert()
    if cert:
        shutil.copy(cert, EXTRAS / "ca.crt")
    try:
        built = docker("build", "-q", "--build-arg", f"BASE={base}", "-t", "kitt", str(ROOT), check=False)
    finally:
        (EXTRAS / "ca.crt").unlink(missing_ok=True)
    assert built.returncode == 0, built.stderr[-3000:]
    return "kitt"
