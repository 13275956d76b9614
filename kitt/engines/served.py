"""Which name a server someone else runs (`--endpoint`) serves the model under.

vLLM serves a model under the path it was started with unless `--served-model-name` says otherwise, so
`kitt run -m /models/llama --endpoint …` cannot assume the folder's name. An OpenAI-compatible server
lists what it serves at `GET /v1/models`; KITT uses the id that is the model asked for (by name, by the
path given, or a path whose last part is that name) and refuses, listing the ids, when none is. A server
that lists nothing readable keeps the name KITT was given.
"""

import msgspec

from kitt.engines import httpconn
from kitt.engines.runtime import Endpoint, EngineError


class _Model(msgspec.Struct):
    id: str


class _Models(msgspec.Struct):
    data: list[_Model]


async def listed(endpoint: Endpoint) -> list[str] | None:
    """The ids the server lists at /v1/models, or None when it lists none we can read."""
    if endpoint.spec.dialect != "openai":
        return None
    try:
        response = await httpconn.fetch(endpoint.host, endpoint.port, "GET", "/v1/models", timeout=5)
        if response.status != 200:
            return None
        return [m.id for m in msgspec.json.decode(response.body(), type=_Models).data]
    except (httpconn.HttpError, TimeoutError, OSError, msgspec.DecodeError):
        return None


def choose(ids: list[str] | None, *, name: str, given: str, url: str) -> str:
    """The id to send: the one that is the model asked for; the name given when the server lists none."""
    if not ids:
        return name
    for wanted in (name, given):
        if wanted in ids:
            return wanted
    by_last_part = [i for i in ids if i.rstrip("/").rsplit("/", 1)[-1] == name]
    if len(by_last_part) == 1:
        return by_last_part[0]
    shown = ", ".join(repr(i) for i in ids[:20]) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
    raise EngineError(f"the server at {url} does not serve {name!r}; it serves {shown} (pass one as -m)")
