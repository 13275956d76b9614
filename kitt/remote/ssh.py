"""SSH to a remote host with the OpenSSH client.

Why OpenSSH and not asyncssh: it is what the user's SSH already is — their ~/.ssh/config (ProxyJump,
ports, aliases), their agent and their keys work unchanged, and KITT adds no SSH implementation of its
own to keep secure. Every call is non-interactive (BatchMode: a missing key fails, never prompts).

Host keys: KITT keeps its own known_hosts (KITT_HOME/ssh/known_hosts, read together with the user's). The
first contact, `kitt remote setup`, records the host's key (trust on first use, as `ssh` offers); every
later call requires that key, so a host that changed its key is refused.

Remote commands run in the remote HOME (`cd "$HOME"` first: sshd starts in the home of the account, which
an `environment=` option may have moved).
"""

import shlex
import shutil
import subprocess
from pathlib import Path

from kitt.remote.hosts import RemoteError, RemoteHost

CONNECT_TIMEOUT_S = 10


class Ssh:
    def __init__(self, home: Path, host: RemoteHost, *, first_contact: bool = False) -> None:
        if shutil.which("ssh") is None:
            raise RemoteError("the OpenSSH client is not installed (Debian: apt-get install openssh-client)")
        self.host = host
        known = home / "ssh" / "known_hosts"
        known.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._options = [
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
            "-o", f"StrictHostKeyChecking={'accept-new' if first_contact else 'yes'}",
            "-o", f"UserKnownHostsFile={known} ~/.ssh/known_hosts",
            "-o", "LogLevel=ERROR",
        ]  # fmt: skip
        if host.ssh_key:
            self._options += ["-o", "IdentitiesOnly=yes", "-i", host.ssh_key]

    def _fail(self, done: subprocess.CompletedProcess[str], what: str) -> RemoteError:
        said = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = said[-1] if said else f"exit status {done.returncode}"
        if done.returncode == 255:
            return RemoteError(f"cannot reach {self.host.target} over SSH: {reason}")
        return RemoteError(f"{what} failed on {self.host.name}: {reason}")

    def _command(self, script: str) -> list[str]:
        """ssh running a POSIX shell script on the host, in its HOME."""
        return ["ssh", *self._options, "-p", str(self.host.port), self.host.target, f'cd "$HOME" && {script}']

    def run(
        self, script: str, *, what: str = "the command", check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a POSIX shell script on the host, in its HOME. Raise RemoteError when SSH fails, or when the
        script does and `check` is set."""
        try:
            command = self._command(script)
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise RemoteError(f"{what} on {self.host.name} did not finish in {timeout:.0f} s") from None
        if done.returncode == 255 or (check and done.returncode != 0):
            raise self._fail(done, what)
        return done

    def kitt(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`kitt ARGS` on the host, from the virtual environment setup installed."""
        return self.run(
            shlex.join([self.host.kitt, *args]), what=f"kitt {args[0]}", check=check, timeout=timeout
        )

    def _stream(self, script: str, what: str, data: bytes | None, timeout: float) -> bytes:
        # Files travel over the same session as commands (`cat`), so paths are the remote HOME's too.
        try:
            command = self._command(script)
            done = subprocess.run(command, input=data, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise RemoteError(f"{what} did not finish in {timeout:.0f} s") from None
        if done.returncode != 0:
            text = subprocess.CompletedProcess(
                done.args, done.returncode, "", done.stderr.decode(errors="replace")
            )
            raise self._fail(text, what)
        return done.stdout

    def put(self, data: bytes, remote: str, *, mode: str = "600", timeout: float = 300) -> None:
        """Write a file at a path relative to the remote HOME (its folder is made; written whole)."""
        folder, temp = shlex.quote(str(Path(remote).parent)), shlex.quote(f"{remote}.part")
        written = f"cat > {temp} && chmod {mode} {temp} && mv {temp} {shlex.quote(remote)}"
        script = f"umask 077 && mkdir -p {folder} && {written}"
        self._stream(script, f"copying {Path(remote).name} to {self.host.name}", data, timeout)

    def get(self, remote: str, timeout: float = 300) -> bytes:
        return self._stream(
            f"cat {shlex.quote(remote)}", f"copying {remote} from {self.host.name}", None, timeout
        )
