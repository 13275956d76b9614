"""The local owner's API token: what "local" means when KITT_AUTH_TOKEN is unset.

Without KITT_AUTH_TOKEN the API still answers no one anonymously: it requires this token, kept in
KITT_HOME/api-token and readable only by the user who owns KITT_HOME (0600). That user's tools read it
(`kitt web` logs the browser in with it); another user on the same machine cannot, so it is refused.
"""

import os
import secrets
from pathlib import Path

PREFIX = "kitt_local_"
FILE = "api-token"


def path(home: Path) -> Path:
    return home / FILE


def read(home: Path) -> str | None:
    """The token, or None when this home has none yet (or it cannot be read)."""
    try:
        token = path(home).read_text().strip()
    except OSError:
        return None
    return token if token.startswith(PREFIX) else None


def load_or_create(home: Path) -> str:
    """The home's token, created 0600 on first use (and re-created if the file was emptied)."""
    found = read(home)
    if found is not None:
        os.chmod(path(home), 0o600)  # a copy restored with looser bits is tightened again
        return found
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = PREFIX + secrets.token_urlsafe(32)
    target = path(home)
    scratch = target.with_name(f".{FILE}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.replace(scratch, target)  # never a half-written token where a reader looks
    return token
