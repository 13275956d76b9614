"""`kitt remote setup`: what a host offers (Python, Docker, GPUs, disk) and installing KITT there.

KITT goes over as the package this server hands its agents (kitt.agent.package: a wheel of exactly the
code running here), into a virtual environment in the remote HOME; its dependencies come from the
host's own package index.
"""

import shlex

import msgspec

from kitt import __version__
from kitt.agent import package
from kitt.remote.hosts import RemoteError, RemoteHost
from kitt.remote.ssh import Ssh

MIN_PYTHON = (3, 11)
LOW_DISK_GIB = 20.0

PROBE = (
    'echo "python=$(python3 -c \'import sys; print("%d.%d.%d" % sys.version_info[:3])\' 2>/dev/null)"; '
    "echo \"docker=$(docker version --format '{{{{.Server.Version}}}}' 2>/dev/null)\"; "
    "echo \"gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | paste -sd ';' -)\"; "
    "echo \"disk_kib=$(df -Pk . | awk 'NR==2 {{print $4}}')\"; "
    'echo "kitt=$({kitt} --version 2>/dev/null)"'
)


class HostReport(msgspec.Struct, frozen=True, kw_only=True):
    python: str | None
    docker: str | None
    gpus: tuple[str, ...]
    disk_free_gib: float | None
    kitt: str | None  # the version KITT reports there, if installed

    @property
    def python_ok(self) -> bool:
        if not self.python:
            return False
        return tuple(int(p) for p in self.python.split(".")[:2]) >= MIN_PYTHON

    def warnings(self) -> list[str]:
        found = []
        if not self.docker:
            found.append("Docker is not answering there: engines can run only natively")
        if not self.gpus:
            found.append("nvidia-smi finds no GPU there")
        if self.disk_free_gib is not None and self.disk_free_gib < LOW_DISK_GIB:
            found.append(f"only {self.disk_free_gib:.1f} GiB free in its HOME")
        return found


def probe(ssh: Ssh, host: RemoteHost) -> HostReport:
    said = ssh.run(PROBE.format(kitt=shlex.quote(host.kitt)), what="probing the host").stdout
    values = dict(line.split("=", 1) for line in said.splitlines() if "=" in line)
    disk = values.get("disk_kib", "").strip()
    version = values.get("kitt", "").strip().rpartition("version ")[2] or None
    return HostReport(
        python=values.get("python", "").strip() or None,
        docker=values.get("docker", "").strip() or None,
        gpus=tuple(g.strip() for g in values.get("gpus", "").split(";") if g.strip()),
        disk_free_gib=int(disk) / 1024 / 1024 if disk.isdigit() else None,
        kitt=version,
    )


def install(ssh: Ssh, host: RemoteHost, report: HostReport) -> str:
    """Install this KITT there; return the version the host then reports."""
    if not report.python_ok:
        found = report.python or "no python3"
        raise RemoteError(
            f"{host.name} has {found}; KITT needs Python {'.'.join(map(str, MIN_PYTHON))} or newer there"
        )
    wheel = package.build()
    remote = f".kitt-remote/packages/{wheel.filename}"
    ssh.put(wheel.data, remote, mode="644")
    venv, remote = shlex.quote(host.venv), shlex.quote(remote)
    check = f"echo '{wheel.sha256}  '{remote} | sha256sum -c --quiet -"  # what arrived is what was sent
    script = (
        f"{check} && (test -x {venv}/bin/pip || python3 -m venv {venv}) "
        f"&& {venv}/bin/pip install -q {remote} "
        f"&& {venv}/bin/pip install -q --no-deps --force-reinstall {remote}"  # same version, new code
    )
    ssh.run(script, what="installing KITT", timeout=1800)
    installed = probe(ssh, host).kitt
    if installed != __version__:
        raise RemoteError(
            f"{host.name} reports KITT {installed or 'missing'} after the install, not {__version__}"
        )
    return installed
