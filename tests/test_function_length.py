"""No function in charlstm/ (cli/ included) has a body longer than MAX_BODY lines, so each reads as
one idea. The body runs from the first statement after the docstring to the function's last line:
a long declarative signature (a Typer command's options) or docstring does not count.

ALLOWED lists functions that are longer for now, each with its body's length today. The list may only
shrink, and each entry only shorten: a listed function may not grow past its entry, an entry must be
lowered when its function gets shorter and removed once the function fits (or is gone), and the list may
hold no more than ALLOWED_ENTRIES names, a count recorded beside it that is lowered with each entry
removed and never raised. When this test was written nothing was over the limit: the list is empty
and the count is 0, so any function that grows past MAX_BODY fails here instead of being listed."""

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "charlstm"
MAX_BODY = 60
ALLOWED: dict[str, int] = {}  # 'module.py::function': its body's length today
ALLOWED_ENTRIES = 0  # how many entries ALLOWED holds; lower it when one goes, never raise it


def body_lengths() -> dict[str, int]:
    """'module.py::Class.function' -> lines of its body (nested functions listed on their own too)."""
    out: dict[str, int] = {}

    def visit(node: ast.AST, rel: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = child.body
                if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                        and isinstance(body[0].value.value, str):
                    body = body[1:]
                out[f"{rel}::{prefix}{child.name}"] = body[-1].end_lineno - body[0].lineno + 1
                visit(child, rel, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, rel, f"{prefix}{child.name}.")
            else:
                visit(child, rel, prefix)

    for path in sorted(PACKAGE.rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8")), path.relative_to(PACKAGE).as_posix(), "")
    return out


def test_no_function_body_is_longer_than_the_limit():
    lengths = body_lengths()
    over = {name: n for name, n in lengths.items() if n > ALLOWED.get(name, MAX_BODY)}
    assert over == {}, f"function bodies over {MAX_BODY} lines (or longer than ALLOWED says): {over}"


def allow_list_problems(allowed: dict[str, int], ceiling: int, lengths: dict[str, int],
                        limit: int = MAX_BODY) -> list[str]:
    """Why `allowed` is not a list that only shrinks, given each function's body length now."""
    problems = []
    if len(allowed) > ceiling:
        problems.append(f"ALLOWED holds {len(allowed)} entries, more than the {ceiling} recorded: shorten the "
                        "function instead of listing it")
    elif len(allowed) < ceiling:
        problems.append(f"ALLOWED holds {len(allowed)} entries: lower ALLOWED_ENTRIES from {ceiling} to match")
    for name, listed in sorted(allowed.items()):
        now = lengths.get(name)
        if now is None or now <= limit:
            problems.append(f"{name} now fits in {limit} lines (or is gone): remove it from ALLOWED")
        elif now < listed:
            problems.append(f"{name} is {now} lines now: lower its entry from {listed}")
        elif now > listed:
            problems.append(f"{name} grew from {listed} to {now} lines")
    return problems


def test_the_allow_list_only_shrinks():
    assert allow_list_problems(ALLOWED, ALLOWED_ENTRIES, body_lengths()) == []


def test_the_allow_list_check_catches_each_way_of_growing():
    lengths = {"a.py::long": 90, "a.py::shorter": 70, "a.py::fixed": 40}
    assert allow_list_problems({"a.py::long": 90}, 1, lengths) == []
    assert allow_list_problems({"a.py::long": 90}, 0, lengths) == [
        "ALLOWED holds 1 entries, more than the 0 recorded: shorten the function instead of listing it"]
    assert allow_list_problems({}, 1, lengths) == ["ALLOWED holds 0 entries: lower ALLOWED_ENTRIES from 1 to match"]
    assert allow_list_problems({"a.py::long": 80}, 1, lengths) == ["a.py::long grew from 80 to 90 lines"]
    assert allow_list_problems({"a.py::shorter": 80}, 1, lengths) == ["a.py::shorter is 70 lines now: lower its "
                                                                      "entry from 80"]
    for gone in ("a.py::fixed", "a.py::removed"):
        assert allow_list_problems({gone: 80}, 1, lengths) == [f"{gone} now fits in 60 lines (or is gone): remove "
                                                               "it from ALLOWED"]


def test_the_length_check_catches_a_long_function(tmp_path, monkeypatch):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_BODY + 1))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "m.py").write_text(f'def f():\n    """Doc."""\n{body}\n\n\ndef g():\n    return 1\n')
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    assert body_lengths() == {"sub/m.py::f": MAX_BODY + 1, "sub/m.py::g": 1}


# The library (everything outside cli/) is held tighter: a body of at most LIBRARY_BODY lines and at
# most MAX_PARAMS parameters besides **keywords (the public `train()` takes the rest of its options as
# a typed TrainOptions or as keywords of its fields; `fit()` passes its keywords on).
LIBRARY_BODY = 50
MAX_PARAMS = 8


def parameter_counts() -> dict[str, int]:
    """'module.py::function' -> its parameters, self and cls not counted (library modules only)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("cli/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs if x.arg not in ("self", "cls")]
                out[f"{rel}::{node.name}"] = len(names) + bool(a.vararg)
    return out


def test_library_functions_are_short_and_take_few_parameters():
    long = {k: n for k, n in body_lengths().items() if not k.startswith("cli/") and n > LIBRARY_BODY}
    many = {k: n for k, n in parameter_counts().items() if n > MAX_PARAMS}
    assert long == {} and many == {}


def test_the_parameter_count_sees_every_kind_of_parameter(tmp_path, monkeypatch):
    (tmp_path / "m.py").write_text("def f(a, /, b, *c, d, **e):\n    return 1\n\n\nclass K:\n"
                                   "    def g(self, x):\n        return x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    assert parameter_counts() == {"m.py::f": 4, "m.py::g": 1}  # **e is not counted
