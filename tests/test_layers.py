"""The package's shape, as docs/architecture.md describes it: every module listed once with its
layer, imports pointing strictly downward, and only cli/ knowing the terminal."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "charlstm"
TERMINAL = {"typer", "rich", "click", "tqdm"}
ROW = re.compile(r"^\| (\d+) \| `([\w/]+\.py)` \|")


def documented() -> dict[str, int]:
    rows = [ROW.match(line) for line in (ROOT / "docs" / "architecture.md").read_text().splitlines()]
    layers: dict[str, int] = {}
    for m in filter(None, rows):
        assert m.group(2) not in layers, f"{m.group(2)} is listed twice in docs/architecture.md"
        layers[m.group(2)] = int(m.group(1))
    return layers


def modules() -> list[str]:
    return sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))


def imports(rel: str):
    """(imported module as a package-relative path or None, top-level name) for every import."""
    path = PACKAGE / rel
    pkg = list(Path(rel).parent.parts)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield None, a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            yield None, node.module.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = pkg[: len(pkg) - (node.level - 1)]
            names = [node.module] if node.module else [a.name for a in node.names]
            for name in names:
                parts = base + name.split(".")
                for cand in ("/".join(parts) + ".py", "/".join(parts) + "/__init__.py"):
                    if (PACKAGE / cand).exists():
                        yield cand, None


def test_every_module_is_documented_once_and_exists():
    doc = documented()
    assert sorted(set(modules()) - set(doc)) == [], "modules missing from docs/architecture.md"
    assert sorted(set(doc) - set(modules())) == [], "docs/architecture.md lists modules that do not exist"


def test_imports_point_downward():
    doc = documented()
    bad = [f"{m} (layer {doc[m]}) -> {t} (layer {doc[t]})" for m in modules() for t, _ in imports(m)
           if t and t != "__init__.py" and doc[t] >= doc[m]]
    assert bad == []


def test_the_library_knows_nothing_of_the_cli():
    bad = [f"{m} -> {t}" for m in modules() if not m.startswith("cli/") and m != "__main__.py" for t, _ in imports(m)
           if t and t.startswith("cli/")]
    assert bad == []


def test_only_the_cli_knows_the_terminal():
    # api.py may draw a tqdm bar: fit() is the notebook's interface
    allowed = {"api.py": {"tqdm"}}
    offenders = [f"{m} imports {name}" for m in modules() if not m.startswith("cli/")
                 for _, name in imports(m) if name in TERMINAL - allowed.get(m, set())]
    assert offenders == []


def test_light_modules_do_not_import_torch():
    """`charlstm --help` must not pay for torch: the CLI imports it only inside commands."""
    light = [m for m in modules() if m.startswith("cli/")] + [
        "errors.py", "events.py", "schedule.py", "config.py", "tokenizer.py", "textfiles.py", "runs.py", "pictures.py"]
    for rel in light:
        top = ast.parse((PACKAGE / rel).read_text()).body
        top_names = {n.names[0].name.split(".")[0] for n in top if isinstance(n, ast.Import)}
        top_names |= {n.module.split(".")[0] for n in top if isinstance(n, ast.ImportFrom) and n.module and not n.level}
        assert "torch" not in top_names, rel
        if not rel.startswith("cli/"):
            assert "torch" not in {name for _, name in imports(rel)}, rel
