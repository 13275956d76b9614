"""Model-format detection: what is on disk decides which engines can serve it."""

import json
from pathlib import Path

from kitt.engines.specs import Format

GGUF_MAGIC = b"GGUF"


class ModelError(ValueError):
    """The model path is missing, unreadable, or not a format any engine serves."""


def detect(path: Path) -> Format:
    """The format of a model file or directory; raises ModelError with what was found instead."""
    if not path.exists():
        raise ModelError(f"model path {str(path)!r} does not exist")
    if path.is_file():
        return _detect_file(path)
    if not path.is_dir():
        raise ModelError(f"model path {str(path)!r} is neither a file nor a directory")
    ggufs = sorted(path.glob("*.gguf"))
    quant = _quantization(path)
    if quant is not None:
        return quant
    if (path / "measurement.json").exists() and any(path.glob("*.safetensors")):
        return "exl2"
    if any(path.glob("*.safetensors")):
        return "safetensors"
    if any(path.glob("pytorch_model*.bin")) or any(path.glob("*.pt")) or any(path.glob("*.pth")):
        return "pytorch"
    if ggufs:
        return _detect_file(ggufs[0])
    raise ModelError(f"no model files in {str(path)!r}: expected *.gguf, *.safetensors or pytorch_model*.bin")


def _detect_file(path: Path) -> Format:
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelError(f"cannot read model file {str(path)!r}: {exc.strerror}") from None
    if magic == GGUF_MAGIC:
        return "gguf"
    suffix = path.suffix.lower()
    if suffix == ".gguf":
        raise ModelError(f"{str(path)!r} is named .gguf but does not start with the GGUF magic")
    if suffix == ".safetensors":
        return "safetensors"
    if suffix in (".bin", ".pt", ".pth"):
        return "pytorch"
    raise ModelError(
        f"cannot tell the format of {str(path)!r} (not GGUF, safetensors or a pytorch checkpoint)"
    )


def _quantization(directory: Path) -> Format | None:
    if (directory / "quantize_config.json").exists():
        return "gptq"
    config = directory / "config.json"
    if not config.exists():
        return None
    try:
        method = json.loads(config.read_text()).get("quantization_config", {}).get("quant_method")
    except (OSError, ValueError, AttributeError):
        return None
    if method == "exl2":
        return "exl2"
    return "gptq" if method == "gptq" else None


def served_name(path: Path) -> str:
    """The name a model is served under: the file stem of a GGUF, else the directory name."""
    return path.stem if path.is_file() else path.name
