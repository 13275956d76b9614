"""The shape of the tree as a contract: packages import only the layers below them (no cycles), and every
NATS subject is built in `kitt/events/subjects.py`. Read from the source with `ast`, so a change that
breaks either fails here, in CI, before anyone has to notice it in review."""

import ast
import re
from collections import defaultdict
from pathlib import Path

KITT = Path(__file__).resolve().parents[1] / "kitt"

# Top to bottom; a package may import its own layer's siblings' nothing, only what is below it.
LAYERS: list[tuple[str, ...]] = [
    ("cli",),
    ("api",),
    ("stack", "remote"),
    ("runtime",),
    ("agent",),
    ("orchestration",),
    ("auth",),
    ("config",),
    ("charts",),
    ("storage",),
    ("projections",),
    ("commands",),
    ("campaigns",),
    ("models", "bench"),
    ("engines",),
    ("hardware", "devon"),
    ("events",),
    ("yamlfile", "children", "stats", "logging", "suites", "cancelling"),
]
RANK = {name: len(LAYERS) - i for i, layer in enumerate(LAYERS) for name in layer}
SUBJECT = re.compile(r"^(ev|live\.ev|in|log|clog|hb|dispatch|metric|rec|arec|kitt\.cmd)\.[A-Za-z*>{]")
SUBJECT_HOMES = {KITT / "events" / "subjects.py", KITT / "events" / "streams.py"}


def _unit(path: Path) -> str:
    relative = path.relative_to(KITT).parts
    return relative[0].removesuffix(".py")


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kitt."):
            found.append((node.lineno, node.module.split(".")[1]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[1]) for a in node.names if a.name.startswith("kitt.")]
    return found


def _sources() -> list[Path]:
    return [p for p in KITT.rglob("*.py") if p.name != "__init__.py" or p.parent != KITT]


def test_every_package_has_a_layer():
    units = {_unit(p) for p in _sources()}
    assert units - set(RANK) == set(), "add the new package to LAYERS"


def test_packages_import_only_what_lies_below_them():
    wrong = []
    edges: dict[str, set[str]] = defaultdict(set)
    for path in _sources():
        unit = _unit(path)
        for line, target in _imports(ast.parse(path.read_text())):
            if target == unit:
                continue
            edges[unit].add(target)
            if RANK.get(target, 0) >= RANK[unit]:
                wrong.append(f"{path.relative_to(KITT.parent)}:{line}: {unit} imports {target}")
    assert wrong == [], "\n".join(wrong)
    assert not [(a, b) for a in edges for b in edges[a] if a in edges.get(b, set())]  # no cycles


def _constants(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            out.append((node.lineno, str(node.values[0].value) + "{"))
    return out


def test_subjects_are_built_in_one_place():
    by_hand = []
    for path in _sources():
        if path in SUBJECT_HOMES:
            continue
        for line, text in _constants(ast.parse(path.read_text())):
            if SUBJECT.match(text):
                by_hand.append(f"{path.relative_to(KITT.parent)}:{line}: {text!r}")
    assert by_hand == [], "build these in kitt/events/subjects.py:\n" + "\n".join(by_hand)
