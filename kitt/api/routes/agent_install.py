"""What a new agent host fetches: the install script and the agent package (a wheel, checksummed).

The seed's one-liner provisions as it installs: an admin's
    printf 'Authorization: Bearer %s\\n' "$KITT_AUTH_TOKEN" | curl -fL -H @- \\
        "https://SERVER:8080/api/v1/agent/install.sh?name=gpu-1" | bash
creates agent `gpu-1` with a fresh token that appears once, inside that script (only its SHA-256 is kept);
`&rotate=true` gives an existing agent a new token instead. An agent's own token fetches a script for itself
that reads the token from KITT_AGENT_TOKEN. Every value in the script is shell-quoted, and the server's
address comes from configuration (`--public-url`, else where the API listens), never from the Host header.
The script carries KITT's CA certificate when the agent needs it to check the server.
"""

import asyncio
import re
import shlex

from litestar import Request, Response, get
from litestar.exceptions import ClientException, PermissionDeniedException

from kitt.agent import package
from kitt.api.auth import require_admin
from kitt.api.commands import Conflict, execute, principal
from kitt.api.context import ApiContext
from kitt.auth import ca, tokens
from kitt.commands.messages import ProvisionAgent, RotateAgentToken
from kitt.events import subjects
from kitt.storage import fleet

SCRIPT = """#!/bin/sh
# KITT agent installer for {name_comment}, from {api_comment}.
# Needs python3 (with venv), curl and sha256sum. The token below is shown once: keep this script private.
set -eu
umask 077
KITT_API={api}
KITT_SERVER={server}
KITT_AGENT_NAME="${{KITT_AGENT_NAME:-{name}}}"
KITT_AGENT_TOKEN="${{KITT_AGENT_TOKEN:-{token}}}"
: "${{KITT_AGENT_TOKEN:?set KITT_AGENT_TOKEN to the agent token from kitt agents provision}}"
KITT_HOME="${{KITT_HOME:-$HOME/.kitt}}"
VENV="$KITT_HOME/agent-venv"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$KITT_HOME"
CA_ARGS=""
{ca_block}printf 'Authorization: Bearer %s\\n' "$KITT_AGENT_TOKEN" > "$WORK/auth"
curl -fsSL {curl_ca}-H @"$WORK/auth" -o "$WORK/{wheel}" "$KITT_API/api/v1/agent/package"
if ! echo "{sha256}  $WORK/{wheel}" | sha256sum -c - >/dev/null 2>&1; then
  echo "the agent package's SHA-256 does not match: not installing it" >&2
  exit 1
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q ${{KITT_AGENT_PIP_ARGS:-}} "$WORK/{wheel}"
KITT_HOME="$KITT_HOME" KITT_AGENT_TOKEN="$KITT_AGENT_TOKEN" "$VENV/bin/kitt-agent" init \\
  --server "$KITT_SERVER" --name "$KITT_AGENT_NAME" --api "$KITT_API" $CA_ARGS
echo "KITT agent $KITT_AGENT_NAME installed in $VENV"
echo "start it: $VENV/bin/kitt-agent start (or: $VENV/bin/kitt-agent service install)"
"""

CA_BLOCK = """CA="$KITT_HOME/kitt-ca.crt"
cat > "$CA" <<'KITT_CA_CERTIFICATE'
{pem}KITT_CA_CERTIFICATE
echo "server CA (SHA-256 {fingerprint}) saved to $CA"
CA_ARGS="--tls-ca $CA"
"""


def ca_pem(kitt: ApiContext) -> str | None:
    if not kitt.agent_ca:
        return None
    try:
        with open(kitt.agent_ca) as fh:
            return fh.read()
    except OSError:
        return None


def _comment(value: str) -> str:
    """A value for a `#` line: one line, printable."""
    return "".join(c if c.isprintable() else "?" for c in value)


_SAFE = re.compile(r"[A-Za-z0-9_.+-]*")  # what may stand unquoted inside the script's double quotes


def render(kitt: ApiContext, *, name: str, token: str, wheel: str, sha256: str, web_ca: bool) -> str:
    for value in (name, token, wheel, sha256):
        if not _SAFE.fullmatch(value):
            raise ValueError(f"refusing to put {value!r} into a shell script")
    pem = ca_pem(kitt)
    block = ""
    if pem:
        block = CA_BLOCK.format(
            pem=pem if pem.endswith("\n") else pem + "\n", fingerprint=ca.fingerprint(pem.encode())
        )
    return SCRIPT.format(
        name_comment=_comment(name),
        api_comment=_comment(kitt.base_url),
        api=shlex.quote(kitt.base_url),
        server=shlex.quote(kitt.agent_url),
        name=name,  # a subject token: letters, digits, '-', '_' only (inside double quotes)
        token=token,  # kagent_ + base64url, or empty
        ca_block=block,
        curl_ca='--cacert "$CA" ' if pem and web_ca else "",
        wheel=wheel,
        sha256=sha256,
    )


@get("/api/v1/agent/package", media_type="application/octet-stream")
async def agent_package() -> Response[bytes]:
    built = await asyncio.to_thread(package.build)
    headers = {
        "Content-Disposition": f'attachment; filename="{built.filename}"',
        "X-Checksum-Sha256": built.sha256,
    }
    return Response(built.data, headers=headers)


async def _provision(request: Request, kitt: ApiContext, name: str, rotate: bool) -> str:
    """A fresh token for agent `name`: a new agent, or (with rotate) a live one's replacement."""
    who = principal(request)
    require_admin(who)
    if who.session is not None and not who.bearer:
        raise PermissionDeniedException("provisioning through install.sh needs a bearer token, not a cookie")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise PermissionDeniedException("install.sh cannot be provisioned from another site")
    try:
        subjects.token(name, "agent name")
    except subjects.InvalidSubjectToken as exc:
        raise ClientException(detail=str(exc)) from None
    token = tokens.new()
    existing = await fleet.agent(kitt.db, name)
    if existing is not None and existing.status != "revoked":
        if not rotate:
            raise Conflict(detail=f"agent {name!r} exists: add &rotate=true to give it a new token")
        await execute(
            request, RotateAgentToken(agent_id=name, token_hash=tokens.digest(token)), wait_for="agents"
        )
    else:
        await execute(request, ProvisionAgent(name=name, token_hash=tokens.digest(token)), wait_for="agents")
    return token


@get("/api/v1/agent/install.sh", media_type="text/x-shellscript")
async def install_script(
    kitt: ApiContext, request: Request, name: str | None = None, rotate: bool = False
) -> Response[str]:
    """With `?name=NAME` (admin): provisions agent NAME and returns its installer, token inside.
    With an agent's own token: that agent's installer, which reads the token from KITT_AGENT_TOKEN."""
    who = principal(request)
    token = ""
    if name is not None:
        token = await _provision(request, kitt, name, rotate)
    elif who.kind == "agent":
        name = who.name
    else:
        raise ClientException(detail="give ?name=NAME: the agent this script provisions and installs")
    built = await asyncio.to_thread(package.build)
    body = render(kitt, name=name, token=token, wheel=built.filename, sha256=built.sha256, web_ca=kitt.web_ca)
    return Response(body, headers={"Cache-Control": "no-store"})
