"""Running a stack with Docker Compose: `docker compose` (v2) when the plugin is there, else
`docker-compose` (v1.29, Debian's); each call in the stack's folder under its project name. What fails says
so in one line: docker missing, its daemon down, compose missing, an image missing, compose's own error."""

import shutil
import subprocess
from pathlib import Path

import msgspec

from kitt.stack.options import StackError


class Service(msgspec.Struct, frozen=True):
    """A container of a compose project: its service, state (running, exited…) and docker's status line."""

    service: str
    state: str
    status: str


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
        raise StackError(f"compose {args[0]} failed: {_last_line(done.stderr)}")
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
        raise StackError(f"compose refuses the generated file: {_last_line(done.stderr)}")
    return True


def _last_line(said: str) -> str:
    lines = [line for line in said.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no reason given"


def services(project: str) -> list[Service]:
    """The containers of a compose project, by service name."""
    fields = '{{.Label "com.docker.compose.service"}}\t{{.State}}\t{{.Status}}'
    label = f"label=com.docker.compose.project={project}"
    listed = run(["docker", "ps", "-a", "--filter", label, "--format", fields], timeout=30)
    rows = [line.split("\t") for line in listed.stdout.splitlines() if line.count("\t") == 2]
    return sorted((Service(*row) for row in rows), key=lambda s: s.service)


def running(project: str) -> bool:
    return any(s.state == "running" for s in services(project))


def stop(where: Path, project: str) -> None:
    """Stop a project's containers; they, and their volumes, stay."""
    compose(where, project, "stop", timeout=300)


def down(where: Path, project: str, *, volumes: bool) -> None:
    """Remove a project's containers and network, and its named volumes too with `volumes`."""
    compose(where, project, "down", *(["-v"] if volumes else []), timeout=300)


def up(where: Path, project: str, without: tuple[str, ...] = ()) -> None:
    """Start a project's services, all but `without` (e.g. Grafana where its image cannot be pulled)."""
    chosen: list[str] = []
    if without:
        defined = compose(where, project, "config", "--services", timeout=60).split()
        unknown = sorted(set(without) - set(defined))
        if unknown:
            raise StackError(f"no service {', '.join(unknown)} here (services: {', '.join(defined)})")
        chosen = [s for s in defined if s not in without]
    compose(where, project, "up", "-d", "--remove-orphans", *chosen, timeout=1800)
