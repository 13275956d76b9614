"""A real OpenSSH server (Debian's sshd) on a free loopback port, as the tests' "remote host": this
machine, reached as the current user with a temp key, with HOME moved to a temp folder by the key's
`environment=` option so nothing lands in the real HOME. No system service or file is touched: the host
key, authorized_keys, pid file and log are all in the temp folder."""

import getpass
import os
import shutil
import subprocess
from pathlib import Path

from kitt.children import free_port
from tests.pipcache import pip_cache_env
from tests.waiting import until

SSHD = "/usr/sbin/sshd"


def keypair(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


class SshHost:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.home = root / "remote-home"
        self.home.mkdir()
        self.port = free_port()
        self.user = getpass.getuser()
        self.client_key = keypair(root / "client-key")
        self.process: subprocess.Popen[bytes] | None = None
        self.new_host_key()

    def new_host_key(self) -> None:
        for name in ("host-key", "host-key.pub"):
            (self.root / name).unlink(missing_ok=True)
        keypair(self.root / "host-key")

    def _config(self) -> Path:
        public = (self.root / "client-key.pub").read_text().strip()
        keys = self.root / "authorized_keys"
        cache = "".join(
            f'environment="{k}={v}",' for k, v in pip_cache_env().items()
        )  # see tests/pipcache.py
        keys.write_text(f'{cache}environment="HOME={self.home}" {public}\n')
        keys.chmod(0o600)
        config = self.root / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.root}/host-key\n"
            f"AuthorizedKeysFile {keys}\nPidFile {self.root}/sshd.pid\n"
            "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitUserEnvironment yes\n"
        )
        return config

    def start(self) -> None:
        assert shutil.which("ssh") and os.path.exists(SSHD), (
            "sshd is not installed (apt-get install openssh-server; the README's test command does)"
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder
        log = (self.root / "sshd.log").open("ab")
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self._config())], stdout=log, stderr=log)

        def answering() -> bool:
            probe = subprocess.run(["ssh-keyscan", "-p", str(self.port), "127.0.0.1"], capture_output=True)
            return probe.returncode == 0 and bool(probe.stdout)

        until(
            answering,
            20,
            0.2,
            what=f"sshd's host key on port {self.port}",
            seen=lambda: (self.root / "sshd.log").read_text()[-2000:],
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
