"""`kitt-agent update`: fetch the server's agent package, check its SHA-256, reinstall it here.

The package and its SHA-256 come in one response, so the checksum is only as trustworthy as the channel:
https (the server's certificate checked against the public CAs and KITT's own), or plain http from this
machine. Plain http to another host is refused before anything is sent (not even the token)."""

import hashlib
import ipaddress
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from kitt.agent import service


class UpdateError(Exception):
    pass


class Installed(msgspec.Struct, frozen=True):
    filename: str
    sha256: str


_WHEEL = re.compile(r"[A-Za-z0-9_.+-]+\.whl")


def safe_wheel_name(offered: str) -> str:
    """The server's filename, if it is a plain wheel name: never a path, never something odd for pip."""
    name = offered.strip()
    if not _WHEEL.fullmatch(name) or name.startswith("."):
        raise UpdateError(f"the server offered a package named {offered[:80]!r}: not a wheel's name")
    return name


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_api(api: str) -> None:
    """Updates come over https (the server's certificate checked), or plain http only from this machine:
    over the network a package and its checksum from an unauthenticated server could be anyone's, and the
    request carries this agent's token."""
    parts = urlsplit(api)
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname)):
        return
    raise UpdateError(
        f"not updating from {parts.scheme}://{parts.hostname}: plain http is refused beyond this machine "
        "(the package, its checksum and the agent's token would travel unauthenticated); set agent.yaml's "
        "`api` to the server's https:// URL (`kitt up --tls`)"
    )


def install_from(api: str, token: str, *, ca: str | None = None) -> Installed:
    check_api(api)
    request = urllib.request.Request(
        f"{api}/api/v1/agent/package", headers={"Authorization": f"Bearer {token}"}
    )
    context = None
    if api.startswith("https://"):
        context = ssl.create_default_context()  # public CAs, and KITT's own when the agent has it
        if ca:
            context.load_verify_locations(ca)
    try:
        with urllib.request.urlopen(request, timeout=120, context=context) as response:
            data = response.read()
            expected = response.headers.get("X-Checksum-Sha256", "")
            disposition = response.headers.get("Content-Disposition", "")
    except OSError as exc:
        raise UpdateError(f"cannot fetch the agent package from {api}: {exc}") from None
    actual = hashlib.sha256(data).hexdigest()
    if not expected or actual != expected:
        raise UpdateError(
            f"the package's SHA-256 is {actual}, the server said {expected or 'nothing'}: not installing"
        )
    filename = safe_wheel_name(disposition.partition('filename="')[2].rstrip('"'))
    with tempfile.TemporaryDirectory() as folder:
        wheel = Path(folder) / filename
        wheel.write_bytes(data)
        pip = [sys.executable, "-m", "pip", "install", "-q"]
        for args in ([*pip, "--force-reinstall", "--no-deps", str(wheel)], [*pip, str(wheel)]):
            done = subprocess.run(args, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise UpdateError(f"pip could not install {filename}: {done.stderr.strip()[-500:]}")
    return Installed(filename=filename, sha256=actual)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def restart(home: Path, pid: int | None) -> str:
    """Restart through systemd when the unit is there; otherwise stop the running agent and start it again."""
    for system in (False, True):
        done = service.systemctl(system, "is-active", service.UNIT)
        if done is not None and done.stdout.strip() == "active":
            service.systemctl(system, "restart", service.UNIT)
            return f"restarted {service.UNIT}"
    if pid is not None:
        os.kill(pid, signal.SIGTERM)  # it cancels and reports its test, then exits
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
    log = (home / "agent.log").open("a")
    subprocess.Popen(
        [sys.executable, "-m", "kitt.agent.cli", "start"], stdout=log, stderr=log, start_new_session=True
    )
    return f"started the agent again (log: {home / 'agent.log'})"
