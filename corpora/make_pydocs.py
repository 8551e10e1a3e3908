"""Build corpora/pydocs.txt: documentation strings of the Python standard library.

The text comes from the Python installation that runs this script (present on every install), so
the corpus is reproducible offline: `python corpora/make_pydocs.py`. Modules are visited in sorted
order; each public module, class and function docstring is written once, dedented, separated by a
blank line, until the size limit is reached.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import warnings
from pathlib import Path

SKIP_PREFIXES = ("_", "test", "idlelib", "tkinter", "turtle", "lib2to3", "ensurepip", "pydoc_data",
                 "this", "antigravity", "xxsubtype", "msilib", "winreg", "winsound", "nt")


def docstrings(module) -> list[str]:
    out, seen = [], set()

    def add(obj) -> None:
        doc = inspect.getdoc(obj)
        if doc and len(doc) > 40 and doc not in seen:
            seen.add(doc)
            out.append(doc.strip())

    add(module)
    for name in sorted(vars(module)):
        if name.startswith("_"):
            continue
        obj = getattr(module, name)
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            add(obj)
            if inspect.isclass(obj):
                for mname in sorted(vars(obj)):
                    if not mname.startswith("_") and inspect.isfunction(getattr(obj, mname, None)):
                        add(getattr(obj, mname))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).with_name("pydocs.txt")))
    ap.add_argument("--max-chars", type=int, default=1_500_000)
    args = ap.parse_args()
    names = sorted(n for n in sys.stdlib_module_names if not n.startswith(SKIP_PREFIXES))
    chunks, total = [], 0
    warnings.simplefilter("ignore")
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception:  # platform-specific modules
            continue
        for doc in docstrings(module):
            chunks.append(doc)
            total += len(doc) + 2
        if total >= args.max_chars:
            break
    text = "\n\n".join(chunks)[: args.max_chars]
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(text):,} characters from {len(chunks):,} docstrings to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
