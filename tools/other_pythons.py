"""Make a virtual environment for each other Python the project supports (3.10 and 3.13) with charlstm
installed without torch, for tests/test_other_pythons.py:

    python tools/other_pythons.py          # prints each environment's python, one a line

Each lives in .venvs/pyX.Y (ignored by git) and is made once; the interpreters are found on PATH
(python3.10, python3.13) or under pyenv. A version with no interpreter on this machine is left out
and said on stderr. `.ci/run` runs this before the tests.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ("3.10", "3.13")
HOME = ROOT / ".venvs"
# what charlstm's torch-free paths import; torch is left out on purpose
DEPENDENCIES = ["numpy>=1.24", "typer>=0.24,<0.29", "rich>=13", "tqdm>=4.60", "filelock>=3.12"]


def interpreter(version: str) -> str | None:
    """pyenv's build of `version`, else one on PATH (not a pyenv shim, which fails outside `pyenv local`)."""
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    matches = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", "python3")))
    if matches:
        return matches[-1]
    found = shutil.which(f"python{version}")
    return found if found and "shims" not in Path(found).parts else None


def venv_python(version: str) -> Path:
    folder = HOME / f"py{version}"
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ready(python: Path) -> bool:
    check = "import charlstm, numpy, typer, rich; import importlib.util as u; assert u.find_spec('torch') is None"
    return python.exists() and subprocess.run([str(python), "-c", check], cwd=HOME,
                                              capture_output=True).returncode == 0


def make(version: str) -> Path | None:
    base = interpreter(version)
    if base is None:
        print(f"no Python {version} on this machine", file=sys.stderr)
        return None
    python = venv_python(version)
    if ready(python):
        return python
    shutil.rmtree(python.parent.parent, ignore_errors=True)
    subprocess.run([base, "-m", "venv", str(python.parent.parent)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *DEPENDENCIES], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    if not ready(python):
        raise SystemExit(f"the Python {version} environment at {python} does not import charlstm without torch")
    return python


def main() -> None:
    HOME.mkdir(exist_ok=True)
    for version in VERSIONS:
        python = make(version)
        if python is not None:
            print(python)


if __name__ == "__main__":
    main()
