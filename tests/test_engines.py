"""Engine specs, model-format detection, preflight, image selection and suite files."""

import json
from pathlib import Path

import pytest

from kitt.bench import suites
from kitt.engines import formats, images, preflight, specs
from kitt.models import tiny
from kitt.yamlfile import YamlError


@pytest.fixture(scope="module")
def gguf_model(tmp_path_factory) -> Path:
    return tiny.write(tmp_path_factory.mktemp("models") / "tiny.gguf")


def _dir(tmp_path: Path, name: str, files: dict[str, str | bytes]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file, content in files.items():
        target = folder / file
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def test_every_engine_has_a_complete_spec():
    assert set(specs.ENGINES) == {"vllm", "tgi", "llama_cpp", "ollama", "exllamav2"}
    for spec in specs.ENGINES.values():
        assert spec.formats and spec.runtimes and spec.default_image and spec.health_path
        assert spec.dialect in ("openai", "tgi", "ollama")
        if "native" in spec.runtimes:
            assert spec.native_command, spec.name


def test_engine_names_are_normalised_and_unknown_ones_refused():
    assert specs.get("llama.cpp").name == "llama_cpp"
    assert specs.get("LLAMA-CPP").name == "llama_cpp"
    with pytest.raises(specs.UnknownEngine, match=r"unknown engine 'mlc'.*known engines: exllamav2"):
        specs.get("mlc")


def test_formats_are_detected_from_content_and_layout(tmp_path, gguf_model):
    assert formats.detect(gguf_model) == "gguf"
    assert (
        formats.detect(_dir(tmp_path, "st", {"model.safetensors": b"x", "config.json": "{}"}))
        == "safetensors"
    )
    assert formats.detect(_dir(tmp_path, "pt", {"pytorch_model.bin": b"x"})) == "pytorch"
    gptq = {"model.safetensors": b"x", "quantize_config.json": "{}"}
    assert formats.detect(_dir(tmp_path, "gptq", gptq)) == "gptq"
    exl2 = {
        "model.safetensors": b"x",
        "config.json": json.dumps({"quantization_config": {"quant_method": "exl2"}}),
    }
    assert formats.detect(_dir(tmp_path, "exl2", exl2)) == "exl2"
    assert formats.detect(_dir(tmp_path, "gdir", {"m.gguf": gguf_model.read_bytes()})) == "gguf"


def test_bad_model_paths_are_clear_errors(tmp_path):
    with pytest.raises(formats.ModelError, match="does not exist"):
        formats.detect(tmp_path / "missing.gguf")
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a gguf file")
    with pytest.raises(formats.ModelError, match="does not start with the GGUF magic"):
        formats.detect(fake)
    with pytest.raises(formats.ModelError, match="no model files"):
        formats.detect(_dir(tmp_path, "empty", {"README.md": "hi"}))


@pytest.mark.parametrize(
    ("engine", "model_kind", "message"),
    [
        ("llama_cpp", "safetensors", "llama.cpp cannot serve a safetensors model"),
        ("vllm", "gguf", "vLLM cannot serve a gguf model"),
        ("ollama", "safetensors", "Ollama cannot serve a safetensors model"),
        ("nope", "gguf", "unknown engine 'nope'"),
    ],
)
def test_preflight_refuses_mismatches_before_anything_starts(
    tmp_path, gguf_model, engine, model_kind, message
):
    model = gguf_model if model_kind == "gguf" else _dir(tmp_path, "st", {"model.safetensors": b"x"})
    with pytest.raises(preflight.PreflightError, match=message):
        preflight.check(engine, str(model), "native")


def test_force_turns_a_mismatch_into_a_warning(gguf_model):
    checked = preflight.check("vllm", str(gguf_model), "native", force=True)
    assert checked.model_format == "gguf"
    assert "vLLM cannot serve a gguf model" in checked.warnings[0]


def test_preflight_checks_runtime_and_platform(gguf_model):
    with pytest.raises(preflight.PreflightError, match="has no native runtime"):
        preflight.check("exllamav2", str(gguf_model), "native", force=True)
    with pytest.raises(preflight.PreflightError, match="no images or builds for aarch64"):
        preflight.check("tgi", str(gguf_model), "docker", force=False, arch="aarch64")
    ok = preflight.check("llama_cpp", str(gguf_model), "native", arch="x86_64")
    assert ok.model_path == gguf_model.resolve()


def test_image_selection_prefers_overrides_then_platform_then_default(tmp_path):
    none = images.EnginesFile()
    llama, vllm = specs.get("llama_cpp"), specs.get("vllm")
    assert images.choose(llama, arch="x86_64", compute_capability=9.0, overrides=none).source == "default"
    spark = images.choose(llama, arch="x86_64", compute_capability=12.1, overrides=none)
    assert (spark.image, spark.source, spark.build) == ("kitt/llama-cpp:spark", "platform", "llama-cpp.spark")
    assert (
        images.choose(llama, arch="aarch64", compute_capability=None, overrides=none).image
        == "kitt/llama-cpp:arm64"
    )
    assert images.choose(vllm, arch="x86_64", compute_capability=10.0, overrides=none).image.startswith(
        "nvcr.io/"
    )
    file = tmp_path / "engines.yaml"
    file.write_text("image_overrides:\n  llama_cpp: my/llama:dev\n")
    chosen = images.choose(
        llama, arch="aarch64", compute_capability=12.1, overrides=images.load_overrides(file)
    )
    assert (chosen.image, chosen.source) == ("my/llama:dev", "override")
    for name in ("llama-cpp.spark", "llama-cpp.arm64"):
        assert (Path(__file__).parent.parent / "docker" / f"{name}.Dockerfile").exists()


def test_a_bad_engines_file_names_its_line(tmp_path):
    file = tmp_path / "engines.yaml"
    file.write_text("image_overrides:\n  vllm: [not, a, string]\n")
    with pytest.raises(
        YamlError, match=r"engines.yaml: line 1: Expected `str`, got `array` - at `\$.image_overrides\[...\]`"
    ):
        images.load_overrides(file)
    file.write_text("image_overides:\n  vllm: x\n")
    with pytest.raises(YamlError, match=r"line 1: .*unknown field `image_overides`"):
        images.load_overrides(file)


def test_builtin_suites_load_and_carry_their_settings(tmp_path):
    assert {"quick", "performance", "standard"} <= set(suites.builtin_names())
    standard = suites.load("standard", tmp_path)
    assert standard.runs == 3
    throughput = next(t for t in standard.tests if t.name == "throughput")
    assert standard.sampling_for(throughput).max_tokens == 128  # the per-test override
    assert standard.sampling_for(standard.tests[0]).max_tokens == 256


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\ntests:\n  - kind: performance\n    name: t\n    concurrency: [0]\n",
            "line 3: concurrency must",
        ),
        (
            "name: x\ntests:\n  - kind: performance\n    name: t\n    concurency: [2]\n",
            "line 5: .*concurency",
        ),
        ("name: x\nruns: two\ntests: []\n", r"line 2: Expected `int`, got `str` - at `\$.runs`"),
        ("name: x\ntests:\n  - kind: quality\n", "line 3: Object missing required field `name`"),
        ("name: x\ntests:\n  - kind: essay\n", "line 3: .*Invalid value 'essay'"),
        ("name: x\ntests:\n  - {kind: quality, name: q, benchmark: b, limit: 2.5}\n", "line 3: .*whole"),
        ("name: x\ntests: [\n", "line 3, column 1"),
    ],
)
def test_invalid_suite_files_say_where(tmp_path, text, message):
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(YamlError, match=message):
        suites.load(str(file), tmp_path)


def test_unknown_suite_lists_the_known_ones(tmp_path):
    with pytest.raises(YamlError, match=r"unknown suite 'nope'.*quick"):
        suites.load("nope", tmp_path)
    user = tmp_path / "suites"
    user.mkdir()
    (user / "mine.yaml").write_text("name: mine\ntests:\n  - kind: performance\n    name: t\n")
    assert suites.load("mine", tmp_path).name == "mine"
