"""The certificate for `kitt web --tls` when no pair is given: issued by KITT's own CA (KITT_HOME/tls/ca.crt),
the same CA agents are given, so one file is all a browser, curl or an agent needs to trust this server."""

from pathlib import Path

from kitt.auth import ca


def web_pair(home: Path, host: str, public_host: str | None = None) -> tuple[Path, Path]:
    """(cert, key) for `host`, the public host, localhost and 127.0.0.1; the key is 0600."""
    hosts = [host, public_host or "", "localhost", "127.0.0.1"]
    pair = ca.issue(home, "kitt-web", [h for h in hosts if h not in ("0.0.0.0", "::")])
    return pair.cert, pair.key
