"""Campaigns on a remote host: started detached with its own KITT, followed, and their results brought
back into this KARR as events (`kitt storage import`)."""

import shlex
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from kitt.campaigns import file as campaign_file
from kitt.remote.hosts import RemoteError, RemoteHost, RemoteRun
from kitt.remote.ssh import Ssh
from kitt.yamlfile import YamlError

FOLDER = ".kitt-remote/campaigns"


class RemoteCampaign(msgspec.Struct, frozen=True):
    """A campaign as the remote `kitt campaign list --json` reports it (the fields shown here)."""

    campaign_id: str
    name: str
    status: str
    total_items: int = 0
    finished_items: int = 0
    failed_items: int = 0


def _checked(path: Path) -> str:
    try:
        campaign_file.load(path)  # the file's own errors are said here, with line and field
    except YamlError as exc:
        raise RemoteError(str(exc)) from None
    return path.read_text()


def dry_run(ssh: Ssh, path: Path) -> str:
    remote = f"{FOLDER}/dry-run-{path.name}"
    ssh.put(_checked(path).encode(), remote)
    return ssh.kitt("campaign", "run", remote, "--dry-run").stdout


def start(ssh: Ssh, host: RemoteHost, path: Path) -> RemoteRun:
    """Copy the campaign there and run it detached (`kitt campaign run --wait` under nohup, its exit status
    kept beside its log), so it outlives this SSH session."""
    text = _checked(path)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    remote = f"{FOLDER}/{stamp}-{path.name}"
    log = f"{remote}.log"
    ssh.put(text.encode(), remote)
    run = shlex.join([host.kitt, "campaign", "run", remote, "--wait"])
    q = shlex.quote
    script = f"nohup sh -c {q(f'{run}; echo $? > {q(log)}.rc')} > {q(log)} 2>&1 < /dev/null & echo $!"
    pid = ssh.run(script, what="starting the campaign").stdout.strip()
    if not pid.isdigit():
        raise RemoteError(f"the campaign did not start on {host.name}: {pid or 'no process id'}")
    return RemoteRun(campaign=remote, log=log, pid=int(pid), started_at=datetime.now(UTC))


def exit_status(ssh: Ssh, run: RemoteRun) -> int | None:
    """The remote run's exit status once it ended; None while it runs."""
    said = ssh.run(f"cat {shlex.quote(run.log)}.rc 2>/dev/null || true", what="checking the campaign").stdout
    return int(said.strip()) if said.strip().isdigit() else None


def follow(ssh: Ssh, run: RemoteRun, out: Callable[[str], None], poll_s: float = 2.0) -> int:
    """Print the remote log as it grows until the run ends; its exit status."""
    offset = 0
    while True:
        status = exit_status(ssh, run)
        chunk = ssh.run(f"tail -c +{offset + 1} {shlex.quote(run.log)}", what="reading the log").stdout
        if chunk:
            out(chunk)
            offset += len(chunk.encode())
        if status is not None:
            return status
        time.sleep(poll_s)


def log_tail(ssh: Ssh, run: RemoteRun, lines: int) -> str:
    return ssh.run(f"tail -n {int(lines)} {shlex.quote(run.log)}", what="reading the log").stdout


def campaigns(ssh: Ssh) -> list[RemoteCampaign]:
    said = ssh.kitt("campaign", "list", "--json").stdout
    try:
        return msgspec.json.decode(said, type=list[RemoteCampaign])
    except msgspec.DecodeError as exc:
        raise RemoteError(f"the host's `kitt campaign list --json` did not answer in JSON: {exc}") from None


def export(ssh: Ssh, host: RemoteHost, target: Path) -> Path:
    """The host's whole KARR as result documents, in `target` (a folder here)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    remote = f".kitt-remote/exports/{stamp}.json"
    ssh.run(f"mkdir -p .kitt-remote/exports && {shlex.join([host.kitt, 'storage', 'export', '-o', remote])}",
            what="exporting results", timeout=1800)  # fmt: skip
    target.mkdir(parents=True, exist_ok=True)
    local = target / f"{host.name}-{stamp}.json"
    local.write_bytes(ssh.get(remote, timeout=1800))
    ssh.run(f"rm -f {shlex.quote(remote)}", what="removing the export")
    return local
