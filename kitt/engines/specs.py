"""What KITT knows about each engine: formats, runtimes, images per platform, launch, health, dialect.

Adding an engine is adding one `EngineSpec` here; nothing else branches on engine names.
"""

from typing import Literal

import msgspec

from kitt.engines import prometheus
from kitt.engines.prometheus import PromMetric
from kitt.events.states import RUNTIMES as RUNTIMES  # the runtimes, as engines name them
from kitt.events.states import RuntimeName

Format = Literal["gguf", "safetensors", "pytorch", "gptq", "exl2"]
Dialect = Literal["openai", "tgi", "ollama"]


class PlatformImage(msgspec.Struct, frozen=True, kw_only=True):
    """An image for hosts matching `arch` (and, when set, a GPU of at least `min_cc` compute capability)."""

    arch: str  # "x86_64" | "aarch64"
    image: str
    min_cc: float | None = None
    gpu: bool | None = None  # False: only for hosts without a GPU
    build: str | None = None  # a KITT-managed image: the Dockerfile under docker/ that builds it


class EngineSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    display: str
    formats: tuple[Format, ...]
    runtimes: tuple[RuntimeName, ...]
    archs: tuple[str, ...]  # CPU architectures it has images or builds for
    default_image: str
    platform_images: tuple[PlatformImage, ...] = ()
    port: int
    health_path: str
    dialect: Dialect
    # Launch: `{model}` is the model path as the engine sees it (the container mount or the host path),
    # `{port}` the port, `{name}` the model's served name.
    docker_args: tuple[str, ...]
    native_command: tuple[str, ...]
    model_mount: str = "/models"
    launch_env: dict[str, str] = {}  # environment the engine needs, `{port}` filled in
    version_path: str | None = None  # GET path whose JSON reports the version
    version_field: str | None = None
    version_command: tuple[str, ...] = ()  # native: a command that prints the version
    context_path: str | None = None  # GET path whose JSON says how many tokens one request may hold
    context_field: str | None = None  # dotted, list indices as numbers: `data.0.max_model_len`
    served_name_from_model: bool = True
    streams_usage: bool = True  # honours stream_options.include_usage
    min_tokens: bool = False  # accepts min_tokens/ignore_eos to force output length
    chunk_per_token: bool = False  # streams exactly one chunk per token, even one with no text yet
    tokenize_api: Literal["vllm", "llama_cpp"] | None = None  # its /tokenize: sizes prompts in its tokens
    own_env: bool = False  # native: in an environment of its own (`kitt engines setup E --runtime native`)
    metrics_path: str | None = None  # its Prometheus page, scraped each second while a benchmark runs
    prometheus: tuple[PromMetric, ...] = ()  # what KITT reads from it (kitt.engines.prometheus)


ENGINES: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec(
            name="vllm",
            display="vLLM",
            formats=("safetensors", "pytorch", "gptq"),
            runtimes=("docker", "native", "external"),
            archs=("x86_64", "aarch64"),
            default_image="vllm/vllm-openai:latest",
            platform_images=(
                PlatformImage(arch="x86_64", min_cc=10.0, image="nvcr.io/nvidia/vllm:25.09-py3"),
                PlatformImage(arch="aarch64", min_cc=10.0, image="nvcr.io/nvidia/vllm:25.09-py3"),
            ),
            port=8000,
            health_path="/health",
            dialect="openai",
            # The tokenizer endpoint lets lm-eval score by loglikelihood (it reads /tokenizer_info).
            docker_args=(
                "--model",
                "{model}",
                "--served-model-name",
                "{name}",
                "--port",
                "{port}",
                "--enable-tokenizer-info-endpoint",
            ),
            native_command=(
                "vllm",
                "serve",
                "{model}",
                "--served-model-name",
                "{name}",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--enable-tokenizer-info-endpoint",
            ),
            version_path="/version",
            version_field="version",
            context_path="/v1/models",
            context_field="data.0.max_model_len",
            version_command=("vllm", "--version"),
            min_tokens=True,
            chunk_per_token=True,
            tokenize_api="vllm",
            metrics_path="/metrics",
            prometheus=prometheus.VLLM,
            own_env=True,
        ),
        EngineSpec(
            name="tgi",
            display="Text Generation Inference",
            formats=("safetensors", "pytorch", "gptq"),
            runtimes=("docker", "native", "external"),
            archs=("x86_64",),
            default_image="ghcr.io/huggingface/text-generation-inference:latest",
            port=8080,
            health_path="/health",
            dialect="tgi",
            docker_args=("--model-id", "{model}", "--port", "{port}"),
            native_command=("text-generation-launcher", "--model-id", "{model}", "--port", "{port}"),
            version_path="/info",
            version_field="version",
            context_path="/info",
            context_field="max_total_tokens",
            version_command=("text-generation-launcher", "--version"),
            streams_usage=False,
            metrics_path="/metrics",
            prometheus=prometheus.TGI,
        ),
        EngineSpec(
            name="llama_cpp",
            display="llama.cpp",
            formats=("gguf",),
            runtimes=("docker", "native", "external"),
            archs=("x86_64", "aarch64"),
            default_image="ghcr.io/ggml-org/llama.cpp:server-cuda",
            platform_images=(
                PlatformImage(arch="x86_64", gpu=False, image="kitt/llama-cpp:cpu", build="llama-cpp.cpu"),
                PlatformImage(
                    arch="x86_64", min_cc=10.0, image="kitt/llama-cpp:spark", build="llama-cpp.spark"
                ),
                PlatformImage(arch="aarch64", image="kitt/llama-cpp:arm64", build="llama-cpp.arm64"),
            ),
            port=8081,
            health_path="/health",
            dialect="openai",
            docker_args=(
                "-m",
                "{model}",
                "--alias",
                "{name}",
                "--host",
                "0.0.0.0",
                "--port",
                "{port}",
                "--metrics",
            ),
            native_command=(
                "llama-server",
                "-m",
                "{model}",
                "--alias",
                "{name}",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--metrics",
            ),
            version_path="/props",
            version_field="build_info",
            context_path="/props",
            context_field="default_generation_settings.n_ctx",
            version_command=("llama-server", "--version"),
            min_tokens=True,  # n_predict with ignore_eos
            tokenize_api="llama_cpp",
            metrics_path="/metrics",  # with --metrics
            prometheus=prometheus.LLAMA_CPP,
        ),
        EngineSpec(
            name="ollama",
            display="Ollama",
            formats=("gguf",),
            runtimes=("docker", "native", "external"),
            archs=("x86_64", "aarch64"),
            default_image="ollama/ollama:latest",
            port=11434,
            health_path="/api/version",
            dialect="ollama",
            docker_args=(),
            native_command=("ollama", "serve"),
            launch_env={"OLLAMA_HOST": "127.0.0.1:{port}"},
            version_path="/api/version",
            version_field="version",
            version_command=("ollama", "--version"),
            streams_usage=False,
        ),
        EngineSpec(
            name="exllamav2",
            display="ExLlamaV2 (TabbyAPI)",
            formats=("exl2", "gptq"),
            runtimes=("docker", "external"),
            archs=("x86_64",),
            default_image="ghcr.io/theroyallab/tabbyapi:latest",
            port=5000,
            health_path="/health",
            dialect="openai",
            docker_args=("--model-dir", "{model_dir}", "--model-name", "{name}", "--port", "{port}"),
            native_command=(),
            version_path=None,
        ),
    )
}


class UnknownEngine(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown engine {name!r}; known engines: {', '.join(sorted(ENGINES))}")


def get(name: str) -> EngineSpec:
    try:
        return ENGINES[name.replace("-", "_").replace(".", "_").lower()]
    except KeyError:
        raise UnknownEngine(name) from None
