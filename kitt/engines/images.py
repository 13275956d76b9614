"""Which image an engine runs in: `~/.kitt/engines.yaml` overrides, then the platform's, then the default."""

from pathlib import Path

import msgspec

from kitt.engines.specs import EngineSpec
from kitt.yamlfile import YamlError, load_yaml


class EnginesFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    image_overrides: dict[str, str] = {}


class ImageChoice(msgspec.Struct, frozen=True, kw_only=True):
    image: str
    source: str  # "override" | "platform" | "default"
    build: str | None = None  # Dockerfile name under docker/ for a KITT-managed image


def load_overrides(path: Path) -> EnginesFile:
    if not path.exists():
        return EnginesFile()
    try:
        return load_yaml(path, EnginesFile)
    except YamlError as exc:
        raise YamlError(f"{exc} (engine image overrides)") from None


def choose(
    spec: EngineSpec, *, arch: str, compute_capability: float | None, overrides: EnginesFile
) -> ImageChoice:
    if spec.name in overrides.image_overrides:
        return ImageChoice(image=overrides.image_overrides[spec.name], source="override")
    for candidate in spec.platform_images:
        if candidate.arch != arch or (candidate.gpu is False and compute_capability is not None):
            continue
        if candidate.min_cc is not None and (
            compute_capability is None or compute_capability < candidate.min_cc
        ):
            continue
        return ImageChoice(image=candidate.image, source="platform", build=candidate.build)
    return ImageChoice(image=spec.default_image, source="default")
