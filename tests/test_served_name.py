"""`--endpoint`: the name a server someone else runs serves the model under, read from its /v1/models.

The server here is the stub (`kitt.bench.stubserver`, its own process), which lists one model, `stub`;
the name rules are checked on the ids vLLM lists (the path it was started with, by default)."""

import pytest

from kitt.engines import served
from kitt.engines.external import ExternalRuntime
from kitt.engines.runtime import EngineError, Launch
from kitt.engines.specs import get as get_spec
from tests.stubprocess import running_stub

URL = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("ids", "name", "given", "chosen"),
    [
        (["tiny-llama"], "tiny-llama", "/models/tiny-llama", "tiny-llama"),
        (["/models/tiny-llama"], "tiny-llama", "/models/tiny-llama", "/models/tiny-llama"),  # vLLM's default
        (["/srv/m/tiny-llama/"], "tiny-llama", "./tiny-llama", "/srv/m/tiny-llama/"),
        (None, "tiny-llama", "tiny-llama", "tiny-llama"),  # lists nothing readable: the name given
        ([], "x", "x", "x"),
    ],
)
def test_the_served_id_is_the_model_asked_for(ids, name, given, chosen):
    assert served.choose(ids, name=name, given=given, url=URL) == chosen


def test_a_model_the_server_does_not_serve_is_refused_with_what_it_serves():
    with pytest.raises(EngineError) as refused:
        served.choose(["a/llama", "b/llama", "qwen"], name="llama", given="llama", url=URL)
    assert str(refused.value) == (
        f"the server at {URL} does not serve 'llama'; it serves 'a/llama', 'b/llama', 'qwen' (pass one as -m)"
    )


def _launch(model: str, name: str) -> Launch:
    return Launch(spec=get_spec("vllm"), model_path=model, served_name=name, port=0)


async def test_the_external_runtime_uses_the_served_id_and_refuses_another():
    lines: list[str] = []

    async def log(line: str) -> None:
        lines.append(line)

    with running_stub() as url:
        runtime = ExternalRuntime(url)
        started = await runtime.start(_launch("/data/models/stub", "stub"), log)
        assert started.endpoint.model == "stub" and lines == [f"using the vLLM server at {url}"]
        with pytest.raises(EngineError, match=r"does not serve 'llama'; it serves 'stub'"):
            await runtime.start(_launch("llama", "llama"), log)
