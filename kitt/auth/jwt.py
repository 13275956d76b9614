"""NATS JWTs: encoded and signed with nkeys (ed25519), decoded with their issuer's signature checked.

A NATS JWT is `base64url(header).base64url(claims).base64url(signature)` with header
`{"typ":"JWT","alg":"ed25519-nkey"}`; the signature is the issuer's nkey signature over the first two parts.
Only what auth callout needs is here: authorization requests (signed by the server), and the responses and
user JWTs KITT signs with its issuer account key.
"""

import base64
import hashlib
import json
import os
import time

import nacl.exceptions
import nacl.signing
import nkeys

HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}


class JwtError(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_account_seed() -> bytes:
    """A fresh account nkey seed (`SA...`): the issuer that signs agents' user JWTs."""
    return nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_ACCOUNT)


def keypair(seed: bytes) -> nkeys.KeyPair:
    return nkeys.from_seed(bytearray(seed))


def encode(claims: dict[str, object], signer: nkeys.KeyPair) -> str:
    body = dict(claims)
    body.setdefault("iat", int(time.time()))
    body["iss"] = signer.public_key.decode()
    body["jti"] = _b64(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest())[:52]
    head = _b64(json.dumps(HEADER, separators=(",", ":")).encode())
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    signature = signer.sign(f"{head}.{payload}".encode())
    return f"{head}.{payload}.{_b64(signature)}"


def decode(token: str, *, verify: bool = True) -> dict:
    """Claims of a JWT whose signature verifies against its own `iss` public key."""
    try:
        head, payload, signature = token.split(".")
        claims = json.loads(_unb64(payload))
    except (ValueError, json.JSONDecodeError) as exc:
        raise JwtError(f"not a JWT: {exc}") from None
    if verify:
        issuer = str(claims.get("iss", ""))
        try:
            _verify_key(issuer).verify(f"{head}.{payload}".encode(), _unb64(signature))
        except (nacl.exceptions.BadSignatureError, ValueError) as exc:
            raise JwtError(f"bad JWT signature from {issuer!r}: {exc}") from None
    return claims


def _verify_key(public: str) -> nacl.signing.VerifyKey:
    """An nkey public key (`N...`, `A...`, `U...`): base32 of prefix byte, 32 key bytes, CRC-16."""
    raw = base64.b32decode(public + "=" * (-len(public) % 8))
    if len(raw) != 35:
        raise ValueError("not an nkey public key")
    return nacl.signing.VerifyKey(raw[1:33])
