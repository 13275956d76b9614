"""What a new agent host fetches: the install script and the agent package (a wheel, checksummed).

Both answer to an agent's own token as well as the API token: agents never hold the API token.
    curl -fsSL -H "Authorization: Bearer $TOKEN" http://SERVER:8080/api/v1/agent/install.sh \\
        | KITT_AGENT_TOKEN=$TOKEN KITT_AGENT_NAME=gpu-01 sh
"""

import asyncio

from litestar import Request, Response, get

from kitt.agent import package
from kitt.api.context import ApiContext

SCRIPT = """#!/bin/sh
# KITT agent installer, from {api}. Needs python3 (with venv), curl and sha256sum.
set -eu
: "${{KITT_AGENT_TOKEN:?set KITT_AGENT_TOKEN to the token from kitt agents provision}}"
NAME="${{KITT_AGENT_NAME:-$(hostname -s)}}"
KITT_HOME="${{KITT_HOME:-$HOME/.kitt}}"
VENV="$KITT_HOME/agent-venv"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
curl -fsSL -H "Authorization: Bearer $KITT_AGENT_TOKEN" -o "$WORK/{wheel}" "{api}/api/v1/agent/package"
if ! echo "{sha256}  $WORK/{wheel}" | sha256sum -c - >/dev/null 2>&1; then
  echo "the agent package's SHA-256 does not match: not installing it" >&2
  exit 1
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q ${{KITT_AGENT_PIP_ARGS:-}} "$WORK/{wheel}"
KITT_HOME="$KITT_HOME" "$VENV/bin/kitt-agent" init --server "{nats}" --name "$NAME" \\
  --token "$KITT_AGENT_TOKEN" --api "{api}"
echo "KITT agent $NAME installed in $VENV; start it: $VENV/bin/kitt-agent start (or: service install)"
"""


@get("/api/v1/agent/package", media_type="application/octet-stream")
async def agent_package() -> Response[bytes]:
    built = await asyncio.to_thread(package.build)
    headers = {
        "Content-Disposition": f'attachment; filename="{built.filename}"',
        "X-Checksum-Sha256": built.sha256,
    }
    return Response(built.data, headers=headers)


@get("/api/v1/agent/install.sh", media_type="text/x-shellscript")
async def install_script(kitt: ApiContext, request: Request) -> str:
    built = await asyncio.to_thread(package.build)
    api = str(request.base_url).rstrip("/")
    return SCRIPT.format(api=api, wheel=built.filename, sha256=built.sha256, nats=kitt.agent_url)
