"""A real InfluxDB 1.x (Debian's `influxd`) on free loopback ports with a temp store and auth enabled.

The first user, an admin, is created the way InfluxDB allows it with auth on and no users yet; every
other request carries that user's Basic credentials (in a header, as KITT sends them).
"""

import shutil
import subprocess
from pathlib import Path

import httpx

from kitt.children import free_port
from tests.waiting import until

USER = "kitt-admin"
PASSWORD = "influx-test-password-0123456789"


class InfluxServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.rpc_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        config = self.root / "influxdb.conf"
        config.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{self.root}/meta"\n'
            f'[data]\n  dir = "{self.root}/data"\n  wal-dir = "{self.root}/wal"\n'
            "  query-log-enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  auth-enabled = true\n'
            "  log-enabled = false\n"
            "[monitor]\n  store-enabled = false\n"
        )
        return config

    def start(self, *, first: bool = True) -> str:
        binary = shutil.which("influxd")
        assert binary, "influxd is not installed (apt-get install influxdb; the README's test command does)"
        log = (self.root / "influxd.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "run", "-config", str(self._config())], stdout=log, stderr=log
        )

        def pinged() -> bool:
            try:
                return httpx.get(f"{self.url}/ping", timeout=1).status_code == 204
            except httpx.HTTPError:
                return False

        until(
            pinged,
            30,
            0.1,
            what="influxd's /ping",
            seen=lambda: (self.root / "influxd.log").read_text()[-2000:],
        )
        if first:
            q = f"CREATE USER \"{USER}\" WITH PASSWORD '{PASSWORD}' WITH ALL PRIVILEGES"
            assert httpx.post(f"{self.url}/query", data={"q": q}).status_code == 200
        return self.url

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)
            self.process = None

    def query(self, q: str, database: str = "kitt") -> list[dict[str, object]]:
        """The rows of the first series a query returns, as dicts (empty if none)."""
        response = httpx.get(
            f"{self.url}/query", params={"db": database, "q": q}, auth=(USER, PASSWORD), timeout=10
        )
        response.raise_for_status()
        result = response.json()["results"][0]
        assert "error" not in result, result
        rows: list[dict[str, object]] = []
        for series in result.get("series", []):
            tags = series.get("tags", {})
            rows += [
                {**tags, **dict(zip(series["columns"], values, strict=True))} for values in series["values"]
            ]
        return rows
