"""Checks made before anything starts: engine known, runtime supported, model format served."""

from pathlib import Path

import msgspec

from kitt.engines import formats, specs
from kitt.engines.specs import EngineSpec, Format, RuntimeName


class PreflightError(ValueError):
    """The run cannot start as asked; the message says why and how to override where that is allowed."""


class Preflight(msgspec.Struct, frozen=True, kw_only=True):
    spec: EngineSpec
    runtime: RuntimeName
    model_path: Path | None  # None for an external endpoint serving a named model
    model_format: Format | None
    warnings: tuple[str, ...] = ()


def check(
    engine: str, model: str, runtime: str, *, force: bool = False, arch: str | None = None
) -> Preflight:
    try:
        spec = specs.get(engine)
    except specs.UnknownEngine as exc:
        raise PreflightError(str(exc)) from None
    if runtime not in specs.RUNTIMES:
        raise PreflightError(f"unknown runtime {runtime!r}; choose one of {', '.join(specs.RUNTIMES)}")
    if runtime not in spec.runtimes:
        raise PreflightError(
            f"{spec.display} has no {runtime} runtime; it supports {', '.join(spec.runtimes)}"
        )
    warnings: list[str] = []
    if arch is not None and arch not in spec.archs:
        message = f"{spec.display} has no images or builds for {arch} (it supports {', '.join(spec.archs)})"
        if not force and runtime == "docker":
            raise PreflightError(message + "; pass --force to try anyway")
        warnings.append(message)
    path = Path(model).expanduser()
    if runtime == "external" and not path.exists():
        return Preflight(spec=spec, runtime="external", model_path=None, model_format=None)
    try:
        fmt = formats.detect(path)
    except formats.ModelError as exc:
        raise PreflightError(str(exc)) from None
    if fmt not in spec.formats:
        supported = ", ".join(spec.formats)
        message = f"{spec.display} cannot serve a {fmt} model ({str(path)!r}); it supports {supported}"
        if not force:
            raise PreflightError(message + "; pass --force to try anyway")
        warnings.append(message)
    return Preflight(
        spec=spec, runtime=runtime, model_path=path.resolve(), model_format=fmt, warnings=tuple(warnings)
    )
