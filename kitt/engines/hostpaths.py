"""Where a path inside KITT's own container is on the Docker host.

Engine containers are KITT's siblings on the host's daemon (the socket is mounted into KITT's container),
and the daemon resolves a bind mount's source on the host: `/models/x.gguf` inside KITT's container must
become the host folder mounted there. KITT finds its own container from /proc/self/mountinfo (Docker
mounts its hostname, hosts and resolv.conf from /var/lib/docker/containers/<id>/, even under
--network host, where the hostname is the host's) and maps the path through that container's mounts.
Outside a container a path is used as it is.
"""

import re
from pathlib import Path
from typing import Any

import aiodocker

_CONTAINER = re.compile(r"/containers/([0-9a-f]{64})/hostname$")
MOUNTINFO = Path("/proc/self/mountinfo")


def own_container_id(mountinfo: Path = MOUNTINFO) -> str | None:
    """The id of the container this process runs in: the source of the bind mount at /etc/hostname.
    (Only that line: a host's mount table lists its containers' mounts too, under the same folder.)"""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 4 and fields[4] == "/etc/hostname":
            found = _CONTAINER.search(fields[3])
            return found.group(1) if found else None
    return None


def through_mounts(path: Path, mounts: list[dict[str, Any]]) -> Path:
    """PATH as the host sees it, through the longest mount destination that holds it."""
    for mount in sorted(mounts, key=lambda m: len(str(m.get("Destination", ""))), reverse=True):
        destination, source = Path(str(mount.get("Destination", ""))), mount.get("Source")
        if source and path.is_relative_to(destination):
            return Path(str(source)) / path.relative_to(destination)
    return path


async def on_host(docker: aiodocker.Docker, path: Path) -> Path:
    container = own_container_id()
    if container is None:
        return path
    try:
        info = await docker.containers.container(container).show()
    except aiodocker.DockerError:
        return path  # not a container this daemon runs: the path is used as it is
    return through_mounts(path, info.get("Mounts") or [])
