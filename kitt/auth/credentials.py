"""The server side's auth material, kept in `$KITT_HOME/auth.json` (0600), made once.

- the issuer: an account nkey whose signature the server trusts on auth-callout responses and user JWTs;
- passwords for the three users the server knows itself: `kitt` (KITT's services, account KITT), `auth`
  (the callout service, account AUTH) and `sys` (the system account, used to kick revoked agents).
Agents never see any of these: they present their own token, which the callout service checks.
"""

import os
import secrets
import string
from pathlib import Path

import msgspec

from kitt.auth import jwt


class ServerCredentials(msgspec.Struct, frozen=True, kw_only=True):
    issuer_seed: str
    kitt_password: str
    auth_password: str
    sys_password: str

    @property
    def issuer_public(self) -> str:
        return jwt.keypair(self.issuer_seed.encode()).public_key.decode()


def new_password() -> str:
    """192 random bits as letters and digits, starting with a letter: nats-server reads a `$VARIABLE` in
    its configuration as a value, and a leading digit or '-' would make it parse a number."""
    alphabet = string.ascii_letters + string.digits
    return secrets.choice(string.ascii_letters) + "".join(secrets.choice(alphabet) for _ in range(32))


def load_or_create(path: Path) -> ServerCredentials:
    if path.exists():
        return msgspec.json.decode(path.read_bytes(), type=ServerCredentials)
    creds = ServerCredentials(
        issuer_seed=jwt.new_account_seed().decode(),
        kitt_password=new_password(),
        auth_password=new_password(),
        sys_password=new_password(),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(msgspec.json.encode(creds))
    return creds


def server_config(creds: ServerCredentials) -> str:
    """The accounts and auth-callout blocks of nats-server's configuration."""
    return (
        "accounts {\n"
        f'  AUTH: {{ users: [ {{ user: auth, password: "{creds.auth_password}" }} ] }}\n'
        f'  KITT: {{ jetstream: enabled, users: [ {{ user: kitt, password: "{creds.kitt_password}" }} ] }}\n'
        f'  SYS: {{ users: [ {{ user: sys, password: "{creds.sys_password}" }} ] }}\n'
        "}\n"
        "system_account: SYS\n"
        "authorization {\n"
        "  auth_callout {\n"
        f"    issuer: {creds.issuer_public}\n"
        "    auth_users: [ auth, kitt, sys ]\n"
        "    account: AUTH\n"
        "  }\n"
        "}\n"
    )


def url_with(url: str, user: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{user}:{password}@{rest.split('@')[-1]}"


def url_without(url: str) -> str:
    """The URL with any user and password removed: what may be shown or given to an agent."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('@')[-1]}"


def environment(creds: ServerCredentials) -> dict[str, str]:
    """The variables the shipped nats.conf and `kitt serve` read, for a distributed deployment."""
    return {
        "KITT_NATS_PASSWORD": creds.kitt_password,
        "KITT_NATS_AUTH_PASSWORD": creds.auth_password,
        "KITT_NATS_SYS_PASSWORD": creds.sys_password,
        "KITT_NATS_ISSUER": creds.issuer_public,
        "KITT_NATS_ISSUER_SEED": creds.issuer_seed,
    }
