"""The browser's session: a signed cookie, and the CSRF token its forms carry.

The cookie holds the user, a random session id, an expiry, and a tag of the token the user logged in with:
an HMAC of the token's SHA-256 under a secret kept in KITT_HOME (0600), so the cookie reveals nothing
about the token itself. The whole cookie is signed with the same secret. A session is honoured only while
that token is still live and the session has not been logged out (logout is an event, so it holds on
every API instance): rotating KITT_AUTH_TOKEN or revoking a user's token ends every session opened with
it. Each form carries HMAC(secret, session id): a page on another site cannot know it.
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
    tok: str  # HMAC tag of the login token's SHA-256


def load_secret(home: Path) -> bytes:
    """The signing secret, created on first use; readable only by its owner."""
    path = home / SECRET_FILE
    if path.exists():
        return path.read_bytes()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
    return secret


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _ascii(value: str | None) -> bytes | None:
    """A cookie or form value as bytes, or None when it is not plain ASCII (nothing we issued is not)."""
    if value is None:
        return None
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        return None


class Signer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, data: bytes) -> str:
        digest = hmac.new(self._secret, data, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def tag(self, token_sha256: str) -> str:
        """What a session carries of its login token: keyed, so it cannot be matched against a token."""
        return self._mac(b"token:" + token_sha256.encode())[:22]

    def issue(self, user: str, tok: str, lifetime_s: int = LIFETIME_S) -> str:
        session = Session(
            user=user, sid=secrets.token_urlsafe(16), exp=int(time.time()) + lifetime_s, tok=tok
        )
        body = base64.urlsafe_b64encode(msgspec.json.encode(session)).decode().rstrip("=")
        return f"{body}.{self._mac(body.encode())}"

    def read(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None when it is missing, forged, malformed or expired."""
        raw = _ascii(cookie)
        if not raw or b"." not in raw:
            return None
        body, _, mac = raw.rpartition(b".")
        if not hmac.compare_digest(mac, self._mac(body).encode()):
            return None
        try:
            session = msgspec.json.decode(
                base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)), type=Session
            )
        except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
            return None
        return session if session.exp > time.time() else None

    def csrf(self, session: Session) -> str:
        return self._mac(b"csrf:" + session.sid.encode())

    def check_csrf(self, session: Session | None, presented: str | None) -> bool:
        raw = _ascii(presented)
        return (
            session is not None and raw is not None and hmac.compare_digest(raw, self.csrf(session).encode())
        )
