"""`charlstm.__all__` means what the docs say in any import order: `from charlstm import train` is the function
that `_LAZY` names whatever was imported before it. A submodule named like a public name would break that
(importing the submodule sets the package attribute, which then wins over the lazy `__getattr__`), so no
public name is also the name of a submodule or subpackage."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import charlstm

PACKAGE = Path(charlstm.__file__).parent

# Run in a fresh interpreter: import what argv[1] names first ("" nothing, "*" every submodule), then check
# every public name, by `from charlstm import NAME` and by attribute, against the object _LAZY names.
CHECK = """\
import importlib, json, pkgutil, sys
import charlstm

first, skipped, imported = sys.argv[1], [], 0
if first == "*":
    for info in pkgutil.walk_packages(charlstm.__path__, "charlstm."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # importing it runs the command line
        try:
            importlib.import_module(info.name)
            imported += 1
        except ModuleNotFoundError as e:  # an optional extra that is not installed
            if (e.name or "charlstm").split(".")[0] == "charlstm":
                raise
            skipped.append(info.name)
elif first:
    importlib.import_module(first)
wrong = []
for name in charlstm.__all__:
    if name == "__version__":
        continue
    module, attr = charlstm._LAZY[name]
    want = getattr(importlib.import_module(module), attr)
    scope = {}
    exec(f"from charlstm import {name} as got", scope)
    if scope["got"] is not want or getattr(charlstm, name) is not want:
        wrong.append(f"{name}: {scope['got']!r}, not {module}.{attr}")
print(json.dumps({"wrong": wrong, "skipped": skipped, "imported": imported}))
"""


ORDERS = {"nothing": "", "api": "charlstm.api", "training.start": "charlstm.training.start", "every-submodule": "*"}


@pytest.fixture(scope="module")
def checks():
    """The check in a fresh interpreter for each order, all started at once (each mostly waits on imports)."""
    procs = {first: subprocess.Popen([sys.executable, "-c", CHECK, first], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True) for first in ORDERS.values()}
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("first", ORDERS.values(), ids=ORDERS.keys())
def test_public_names_are_what_lazy_names_in_any_import_order(first, checks):
    out, err = checks[first].communicate(timeout=120)
    assert checks[first].returncode == 0, err[-3000:]
    result = json.loads(out.splitlines()[-1])
    assert result["wrong"] == [], f"after importing {first or 'nothing'}: {result['wrong']}"
    if first == "*":  # modules of an optional extra that is not installed are left out, and said so
        assert result["imported"] >= 40, result


def submodule_names() -> set[str]:
    """The names `import charlstm.X` can bind on the package: every module file and folder of Python code
    directly inside it (a folder without __init__.py still imports, as a namespace package)."""
    files = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    folders = {d.name for d in PACKAGE.iterdir() if d.is_dir() and d.name.isidentifier() and any(d.rglob("*.py"))}
    return files | folders | {m.name for m in pkgutil.iter_modules([str(PACKAGE)])}


def test_no_public_name_is_a_submodule():
    assert {"api", "training", "cli", "sampling", "store"} <= submodule_names()
    assert sorted(set(charlstm.__all__) & submodule_names()) == []


def test_every_lazy_name_resolves_and_is_exported():
    assert set(charlstm.__all__) == {"__version__", *charlstm._LAZY}
    for name, (module, attr) in charlstm._LAZY.items():
        assert getattr(importlib.import_module(module), attr).__name__ == name, name
