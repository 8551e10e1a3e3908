"""No function in charlstm/ (cli/ included) has a body longer than MAX_BODY lines, so each reads as
one idea. The body runs from the first statement after the docstring to the function's last line:
a long declarative signature (a Typer command's options) or docstring does not count.

ALLOWED lists functions that are longer for now, each with its length when it was listed: they may
not grow, and an entry must go once its function fits (the list only shrinks). When this test was
written nothing outside the training loop was over the limit, so it is empty."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "charlstm"
MAX_BODY = 60
ALLOWED: dict[str, int] = {}  # 'module.py::function': its body's length when listed


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


def test_the_allow_list_only_shrinks():
    lengths = body_lengths()
    fixed = sorted(name for name in ALLOWED if lengths.get(name, 0) <= MAX_BODY)
    assert fixed == [], f"these now fit in {MAX_BODY} lines (or are gone): remove them from ALLOWED"
