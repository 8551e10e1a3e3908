"""The package's shape: imports point downward, and only the interface layer knows the terminal."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "charlstm"
LAYER = {
    "errors": 0, "events": 0, "schedule": 0, "report": 0, "config": 1, "tokenizer": 1, "devices": 1,
    "tokens": 1, "precision": 1, "sizing": 1, "distributed": 1, "corpus": 2, "model": 2, "gradients": 3,
    "introspect": 3, "data": 3,
    "stepper": 3, "evaluate": 3, "checkpoint": 3, "novelty": 4, "fetch": 2, "scoring": 4, "plotting": 6,
    "sample": 4, "train": 5, "api": 5, "compare": 6, "console": 6, "cli_common": 7, "cli_train": 8,
    "cli_sample": 8, "cli_inspect": 8, "cli_tools": 8, "notebook": 7, "cli_docs": 10, "cli": 9, "__main__": 10,
}
TERMINAL = {"typer", "rich", "click", "tqdm"}


def imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                yield ("." + node.module) if node.module else ".", [a.name for a in node.names]
            else:
                yield node.module, []
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def test_every_module_has_a_layer():
    assert {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"} == set(LAYER)


def test_imports_point_downward():
    bad = []
    for path in PACKAGE.glob("*.py"):
        if path.stem == "__init__":
            continue
        for mod, names in imports(path):
            if not mod.startswith("."):
                continue
            targets = [mod[1:]] if mod != "." else [n for n in names if n in LAYER]
            for t in targets:
                t = t.split(".")[0]
                if t and t in LAYER and LAYER[t] >= LAYER[path.stem]:
                    bad.append(f"{path.stem} -> {t}")
    assert bad == []


def test_only_the_interface_knows_the_terminal():
    interface = [p for p in PACKAGE.glob("*.py") if not (p.stem.startswith("cli") or p.stem in ("console", "notebook"))]
    offenders = [f"{p.stem} imports {m}" for p in interface for m, _ in imports(p) if m.split(".")[0] in TERMINAL]
    assert offenders == []


def test_light_modules_do_not_import_torch():
    for stem in ("errors", "events", "schedule", "config", "tokenizer", "corpus", "cli", "cli_common", "cli_train",
                 "cli_sample", "cli_inspect", "console", "report"):
        mods = {m.split(".")[0] for m, _ in imports(PACKAGE / f"{stem}.py") if m}
        top_level = ast.parse((PACKAGE / f"{stem}.py").read_text()).body
        top = {n.names[0].name.split(".")[0] for n in top_level if isinstance(n, ast.Import)}
        assert "torch" not in top, stem
        if stem in ("errors", "events", "schedule", "config", "tokenizer", "corpus", "report"):
            assert "torch" not in mods, stem
