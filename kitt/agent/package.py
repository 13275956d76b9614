"""The agent package a server hands its agents: a wheel of the KITT it runs, rebuilt from the installed files.

Repacking the importable `kitt` package (plus its distribution metadata and entry points) works the same
for a regular and an editable install, needs no build tools, and gives agents exactly the server's code.
The offline datasets travel too, so quality benchmarks run on agents, and the migrations and Dockerfiles,
so `kitt remote setup` installs a whole KITT from it.
"""

import base64
import hashlib
import importlib.metadata
import io
import zipfile
from functools import cache
from pathlib import Path

import msgspec

import kitt


class Package(msgspec.Struct, frozen=True):
    filename: str
    sha256: str
    data: bytes


def _files() -> list[tuple[str, Path]]:
    root = Path(kitt.__file__).resolve().parent
    found = [(f"kitt/{p.relative_to(root)}", p) for p in sorted(root.rglob("*")) if p.is_file()]
    # An editable install: the source tree's copies of what a wheel force-includes (pyproject.toml), so a
    # remote host's KITT can migrate its database and build engine images too.
    for folder, packaged in (("datasets", "_datasets"), ("migrations", "_migrations"), ("docker", "_docker")):
        source = root.parent / folder
        if not (root / packaged).exists() and source.is_dir():
            found += [
                (f"kitt/{packaged}/{p.relative_to(source)}", p)
                for p in sorted(source.rglob("*"))
                if p.is_file() and "build-extras" not in p.parts  # never a build's private CA or pip settings
            ]
    return [(arc, p) for arc, p in found if "__pycache__" not in arc and not arc.endswith(".pyc")]


def _record_line(arc: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arc},sha256={digest},{len(data)}"


@cache
def build() -> Package:
    dist = importlib.metadata.distribution("kitt")
    version = dist.version
    info = f"kitt-{version}.dist-info"
    metadata = {
        "METADATA": (
            dist.read_text("METADATA") or f"Metadata-Version: 2.1\nName: kitt\nVersion: {version}\n"
        ),
        "WHEEL": "Wheel-Version: 1.0\nGenerator: kitt\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "entry_points.txt": dist.read_text("entry_points.txt") or "",
    }
    buffer = io.BytesIO()
    records = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for arc, path in _files():
            data = path.read_bytes()
            wheel.writestr(arc, data)
            records.append(_record_line(arc, data))
        for name, text in metadata.items():
            data = text.encode()
            wheel.writestr(f"{info}/{name}", data)
            records.append(_record_line(f"{info}/{name}", data))
        wheel.writestr(f"{info}/RECORD", "\n".join([*records, f"{info}/RECORD,,"]) + "\n")
    data = buffer.getvalue()
    return Package(
        filename=f"kitt-{version}-py3-none-any.whl", sha256=hashlib.sha256(data).hexdigest(), data=data
    )
