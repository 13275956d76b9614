"""The agent as a systemd service that restarts on failure: the unit, and installing it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

UNIT = "kitt-agent.service"


def unit_text(home: Path, *, system: bool, python: str = sys.executable) -> str:
    target = "multi-user.target" if system else "default.target"
    return (
        "[Unit]\n"
        "Description=KITT agent: runs LLM inference engine tests for a KITT server\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"Environment=KITT_HOME={home}\n"
        f"ExecStart={python} -m kitt.agent.cli start\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "KillSignal=SIGTERM\n"
        "TimeoutStopSec=90\n"  # a running test is cancelled and reported before the agent exits
        "\n"
        "[Install]\n"
        f"WantedBy={target}\n"
    )


def unit_dir(system: bool) -> Path:
    if system:
        return Path("/etc/systemd/system")
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "systemd" / "user"


def systemctl(system: bool, *args: str) -> subprocess.CompletedProcess[str] | None:
    """Run systemctl when this host has it; None when it does not."""
    if shutil.which("systemctl") is None:
        return None
    scope = [] if system else ["--user"]
    return subprocess.run(["systemctl", *scope, *args], capture_output=True, text=True, check=False)


def install(home: Path, *, system: bool, folder: Path | None = None) -> Path:
    target = (folder or unit_dir(system)) / UNIT
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(unit_text(home, system=system))
    return target


def uninstall(*, system: bool, folder: Path | None = None) -> Path | None:
    target = (folder or unit_dir(system)) / UNIT
    if not target.exists():
        return None
    target.unlink()
    return target
