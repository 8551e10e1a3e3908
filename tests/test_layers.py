"""The package's shape, as docs/architecture.md describes it: every part (a folder, or a file at the
top) has a layer; every module is listed once under its part; an import points to a lower layer or
stays inside its own folder, and the imports have no cycle; only cli/ knows the terminal."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "charlstm"
DOC = ROOT / "docs" / "architecture.md"
TERMINAL = {"typer", "rich", "click", "tqdm"}
PART_ROW = re.compile(r"^\| (\d+) \| `([\w]+/|[\w]+\.py)` \|")
MODULE_ROW = re.compile(r"^\| `([\w/]+\.py)` \|")


def parts() -> dict[str, int]:
    """'store/' or 'model.py' -> its layer, from the table of parts."""
    layers: dict[str, int] = {}
    for m in filter(None, map(PART_ROW.match, DOC.read_text().splitlines())):
        assert m.group(2) not in layers, f"{m.group(2)} is listed twice in docs/architecture.md"
        layers[m.group(2)] = int(m.group(1))
    return layers


def documented() -> list[str]:
    return [m.group(1) for m in map(MODULE_ROW.match, DOC.read_text().splitlines()) if m]


def part_of(rel: str) -> str:
    return rel.split("/")[0] + "/" if "/" in rel else rel


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
            assert node.module.split(".")[0] != "charlstm" or rel.startswith("assets/"), \
                f"{rel}: imports inside the package are relative ({node.module})"
            yield None, node.module.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = pkg[: len(pkg) - (node.level - 1)]
            names = [node.module] if node.module else [a.name for a in node.names]
            if node.module:  # `from .x import a, b`: a and b may be modules of package x
                names += [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                parts_ = base + name.split(".")
                for cand in ("/".join(parts_) + ".py", "/".join(parts_) + "/__init__.py"):
                    if (PACKAGE / cand).exists():
                        yield cand, None


def edges() -> list[tuple[str, str]]:
    return [(m, t) for m in modules() for t, _ in imports(m) if t and t != "__init__.py"]


def test_every_module_is_documented_once_under_a_part_that_exists():
    doc = documented()
    assert sorted({d for d in doc if doc.count(d) > 1}) == [], "modules listed twice in docs/architecture.md"
    assert sorted(set(modules()) - set(doc)) == [], "modules missing from docs/architecture.md"
    assert sorted(set(doc) - set(modules())) == [], "docs/architecture.md lists modules that do not exist"
    layers = parts()
    assert sorted({part_of(m) for m in modules()} - set(layers)) == [], "parts missing from the table of parts"
    assert sorted(set(layers) - {part_of(m) for m in modules()}) == [], "the table of parts lists missing parts"


def test_at_most_ten_modules_at_the_top():
    assert len([p for p in PACKAGE.glob("*.py")]) <= 10


def test_imports_point_down_the_parts_or_stay_inside_a_folder():
    layers = parts()
    bad = [f"{m} ({part_of(m)}, layer {layers[part_of(m)]}) -> {t} ({part_of(t)}, layer {layers[part_of(t)]})"
           for m, t in edges()
           if not (part_of(m) == part_of(t) and part_of(m).endswith("/")) and layers[part_of(t)] >= layers[part_of(m)]]
    assert bad == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first walk (each reported from where it closes)."""
    found, state = [], {}

    def walk(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return found


def test_no_import_cycles():
    graph: dict[str, set[str]] = {}
    for m, t in edges():
        graph.setdefault(m, set()).add(t)
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a.py": {"b.py"}, "b.py": {"c.py"}, "c.py": {"a.py"}}) == [["a.py", "b.py", "c.py", "a.py"]]
    assert cycles({"a.py": {"b.py"}, "b.py": set()}) == []


def test_each_subpackage_says_what_it_holds_and_may_import():
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert doc and "import" in doc, f"{init.relative_to(ROOT)} must say what it holds and what it may import"


def test_the_library_knows_nothing_of_the_cli():
    bad = [f"{m} -> {t}" for m, t in edges()
           if not m.startswith("cli/") and m != "__main__.py" and t.startswith("cli/")]
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
        "errors.py", "events.py", "training/schedule.py", "config.py", "tokenizer.py", "data/textfiles.py",
        "store/runs.py", "insight/pictures.py"]
    for rel in light:
        top = ast.parse((PACKAGE / rel).read_text()).body
        top_names = {n.names[0].name.split(".")[0] for n in top if isinstance(n, ast.Import)}
        top_names |= {n.module.split(".")[0] for n in top if isinstance(n, ast.ImportFrom) and n.module and not n.level}
        assert "torch" not in top_names, rel
        if not rel.startswith("cli/"):
            assert "torch" not in {name for _, name in imports(rel)}, rel


def test_the_data_flow_names_what_the_code_defines():
    """Every function or class the data-flow picture names (snake_case with an underscore, or CamelCase)
    is defined in the package, and every folder it labels is a part."""
    text = DOC.read_text()
    flow = text[text.index("## Data flow"):]
    flow = flow[flow.index("```text") + 7:]
    flow = flow[:flow.index("```")]
    named = set(re.findall(r"\b(?:[a-z]+_[a-z_]+|[A-Z][a-z]+[A-Z]\w*|[A-Z][a-z]{3,})\b", flow))
    defined = {n.name for p in PACKAGE.rglob("*.py") for n in ast.walk(ast.parse(p.read_text()))
               if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert len(named) >= 15 and sorted(named - defined) == []
    labels = set(re.findall(r"^(\w+/)", flow, re.M))
    assert labels and labels <= set(parts())


def test_every_file_the_architecture_page_names_exists():
    """The reading path and the tables name real files (a moved or renamed module fails here)."""
    named = set(re.findall(r"`(charlstm/[\w/]+\.py)`", DOC.read_text(encoding="utf-8")))
    assert len(named) >= 6
    assert sorted(p for p in named if not (ROOT / p).is_file()) == []
