"""The torch-free paths under the oldest and newest Python the project supports (3.10 and 3.13, from
pyenv on the build machine): `--help`, `info`, `sample` on the numpy engine and `export --format web`,
each in an environment with charlstm installed and no torch (tools/other_pythons.py makes them), giving
the same text and the same bytes as under this Python. And every module compiles under each."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import other_pythons  # noqa: E402

STARTER = ROOT / "charlstm" / "assets" / "starter.pt"


@pytest.fixture(scope="module", params=other_pythons.VERSIONS)
def python(request) -> Path:
    version = request.param
    if other_pythons.interpreter(version) is None:
        pytest.skip(f"no Python {version} interpreter on this machine (CI's matrix runs that version itself)")
    return other_pythons.make(version)


def run(python, *args, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    out = subprocess.run([str(python), *map(str, args)], cwd=cwd, capture_output=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr.decode("utf-8", "replace")
    return out


def test_the_environment_has_no_torch(python, tmp_path):
    out = run(python, "-c", "import importlib.util as u, sys; print(sys.version_info[:2], u.find_spec('torch'))",
              cwd=tmp_path)
    assert out.stdout.decode().strip().endswith("None")


def test_help_info_sample_and_web_export_match_this_python(python, tmp_path):
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir()
    theirs.mkdir()
    for args in (["--help"], ["info", STARTER], ["info", STARTER, "--json"],
                 ["sample", STARTER, "-n", "200", "--seed", "11", "--temp", "0.8"],
                 ["sample", STARTER, "-n", "50", "--seed", "3", "--temp", "0", "--prime", "ROMEO:"]):
        got = run(python, "-m", "charlstm", *args, cwd=theirs).stdout
        expected = run(sys.executable, "-m", "charlstm", *args, cwd=mine).stdout
        if args == ["--help"]:  # the same commands; typer and rich may be other releases there
            assert b"Usage: " in got and all(f" {c} ".encode() in got for c in ("train", "sample", "resume"))
        else:
            assert got == expected, args
    for where, py in ((theirs, python), (mine, sys.executable)):
        run(py, "-m", "charlstm", "export", STARTER, "--format", "web", "-o", "page", cwd=where)
    digest = [hashlib.sha256((w / "page" / "model.js").read_bytes()).hexdigest() for w in (theirs, mine)]
    assert digest[0] == digest[1]


def test_every_module_compiles(python, tmp_path):
    code = ("import pathlib, sys\n"
            "for p in sorted(pathlib.Path(sys.argv[1]).rglob('*.py')):\n"
            "    compile(p.read_text(encoding='utf-8'), str(p), 'exec')\n"
            "print('ok')\n")
    for folder in ("charlstm", "tests", "tools", "bench"):
        assert run(python, "-c", code, ROOT / folder, cwd=tmp_path).stdout.strip() == b"ok", folder
