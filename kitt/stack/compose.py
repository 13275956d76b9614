"""Running a stack with Docker Compose: `docker compose` (v2) when the plugin is there, else
`docker-compose` (v1.29, Debian's); each call in the stack's folder under its project name. What fails says
so in one line: docker missing, its daemon down, compose missing, an image missing, compose's own error."""

import shutil
import subprocess
from pathlib import Path

from kitt.stack.options import StackError


def run(args: list[str], cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise StackError(f"{args[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise StackError(f"{' '.join(args[:3])} did not finish in {timeout:.0f} s") from None


def docker_ready() -> None:
    if shutil.which("docker") is None:
        raise StackError("docker is not installed (Debian: apt-get install docker.io)")
    answer = run(["docker", "version", "--format", "{{.Server.Version}}"], timeout=30)
    if answer.returncode != 0:
        said = (answer.stderr.strip().splitlines() or ["no answer"])[-1]
        raise StackError(f"the Docker daemon is not answering: {said}")


def command() -> list[str]:
    """The compose command on this host."""
    if shutil.which("docker") and run(["docker", "compose", "version"], timeout=30).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise StackError("Docker Compose is missing: install the compose plugin or docker-compose")


def image_present(image: str) -> bool:
    return run(["docker", "image", "inspect", image], timeout=30).returncode == 0


def compose(where: Path, project: str, *args: str, timeout: float = 900) -> str:
    """Run compose in the stack's folder; its output, or a StackError with the last line it printed."""
    docker_ready()
    done = run([*command(), "-p", project, "-f", str(where / "docker-compose.yaml"), *args], where, timeout)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise StackError(f"compose {args[0]} failed: {lines[-1] if lines else 'no reason given'}")
    return done.stdout


def validate(where: Path, project: str) -> bool:
    """Check the stack's compose file with compose itself (no daemon needed); False when compose is
    missing here (nothing to check it with), StackError with compose's words when it refuses the file."""
    try:
        tool = command()
    except StackError:
        return False
    done = run([*tool, "-p", project, "-f", str(where / "docker-compose.yaml"), "config", "-q"], where, 60)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise StackError(f"compose refuses the generated file: {lines[-1] if lines else 'no reason given'}")
    return True
