"""Agent credentials: `kagent_` + 43 base64url characters (256 random bits). Only the SHA-256 is stored."""

import hashlib
import re
import secrets

PREFIX = "kagent_"
_FORMAT = re.compile(r"^kagent_[A-Za-z0-9_-]{43}$")


class TokenFormatError(ValueError):
    pass


def new() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def check(token: str) -> str:
    if not _FORMAT.match(token):
        raise TokenFormatError(
            "an agent token is 'kagent_' followed by 43 letters, digits, '-' or '_' "
            "(from `kitt agents provision NAME`)"
        )
    return token


def digest(token: str) -> str:
    return hashlib.sha256(check(token).encode()).hexdigest()


def digest_or_none(token: str | None) -> str | None:
    """The SHA-256 of a well-formed token; None for a missing or malformed one (looked up no further)."""
    if not token:
        return None
    try:
        return digest(token)
    except TokenFormatError:
        return None
