"""The browser's session: a signed cookie, and the CSRF token its forms carry.

The cookie holds the user, a random session id, an expiry, and the first characters of the SHA-256 of the
token the user logged in with; it is signed with a secret kept in KITT_HOME (0600). A session is honoured
only while that token is still live, so rotating KITT_AUTH_TOKEN or revoking a user's token ends every
session opened with it. Each form carries HMAC(secret, session id): a page on another site cannot know it.
"""

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

import msgspec

COOKIE = "kitt_session"
CSRF_FIELD = "csrf_token"
LIFETIME_S = 12 * 3600
SECRET_FILE = "api-secret"


class Session(msgspec.Struct, frozen=True):
    user: str
    sid: str
    exp: int
    tok: str  # the first 16 hex digits of the login token's SHA-256 ("" when auth is off)


def load_secret(home: Path) -> bytes:
    """The signing secret, created on first use; readable only by its owner."""
    path = home / SECRET_FILE
    if path.exists():
        return path.read_bytes()
    home.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
    return secret


def token_tag(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class Signer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, data: bytes) -> str:
        digest = hmac.new(self._secret, data, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, user: str, tok: str, lifetime_s: int = LIFETIME_S) -> str:
        session = Session(
            user=user, sid=secrets.token_urlsafe(16), exp=int(time.time()) + lifetime_s, tok=tok
        )
        body = base64.urlsafe_b64encode(msgspec.json.encode(session)).decode().rstrip("=")
        return f"{body}.{self._mac(body.encode())}"

    def read(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None when it is missing, forged, malformed or expired."""
        if not cookie or "." not in cookie:
            return None
        body, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(body.encode())):
            return None
        try:
            session = msgspec.json.decode(
                base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)), type=Session
            )
        except (ValueError, msgspec.DecodeError):
            return None
        return session if session.exp > time.time() else None

    def csrf(self, session: Session) -> str:
        return self._mac(b"csrf:" + session.sid.encode())

    def check_csrf(self, session: Session | None, presented: str | None) -> bool:
        return session is not None and bool(presented) and hmac.compare_digest(presented, self.csrf(session))
