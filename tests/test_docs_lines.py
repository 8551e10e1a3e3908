"""The docs' other command lines name things that must exist: `python -m MODULE`, `python SCRIPT`,
`bash SCRIPT`, pytest's markers and paths; and the README's Windows set-up does what its POSIX one does."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from conftest import ROOT
from docs_reading import OTHERS, POWERSHELL, fenced_blocks

# Written by a documented command rather than kept in the repository: `charlstm export --format onnx` copies
# charlstm/assets/sample_onnx.py beside the .onnx file.
WRITTEN_BY_CHARLSTM = {"sample_onnx.py": ROOT / "charlstm" / "assets" / "sample_onnx.py"}


def missing_in(words: tuple[str, ...], markers: set[str]) -> list[str]:
    """What `python ...` or `bash ...` names that does not exist: a module, a script, a pytest path or a marker
    not among `markers`."""
    if len(words) < 2:
        return []
    if words[0] == "bash" or not words[1].startswith("-"):
        script = words[1]
        found = (ROOT / script).is_file() or WRITTEN_BY_CHARLSTM.get(script, Path("/nonexistent")).is_file()
        return [] if found else [script]
    if words[1] != "-m" or len(words) < 3:
        return []  # python -c, python with no arguments: nothing to look up
    module, rest = words[2], list(words[3:])
    if module == "pip":
        return []
    if importlib.util.find_spec(module) is None:
        return [f"module {module}"]
    if module != "pytest":
        return []
    missing = []
    while rest:
        word = rest.pop(0)
        if word == "-m" and rest:
            expression = rest.pop(0)
            missing += [f"marker {m}" for m in re.findall(r"[A-Za-z_]\w*", expression)
                        if m not in markers | {"not", "and", "or"}]
        elif word in ("-k", "-p", "-c", "-o", "--rootdir", "--durations") and rest:
            rest.pop(0)  # the option's value
        elif not word.startswith("-") and not (ROOT / word.split("::")[0]).exists():
            missing.append(word)
    return missing


@pytest.mark.parametrize("command", OTHERS, ids=lambda c: f"{c.where} {' '.join(c.argv)}")
def test_other_command_line_names_what_exists(command, pytestconfig):
    markers = {m.split(":")[0].strip() for m in pytestconfig.getini("markers")}
    assert missing_in(command.argv, markers) == [], f"{command.where}: `{command.line}`"


def test_the_lookup_finds_what_is_missing():
    assert missing_in(("python", "-m", "pytest", "-m", "slow", "tests/cli"), {"slow"}) == []
    assert missing_in(("python", "-m", "pytest", "-m", "not fast", "tests/nope.py"), {"slow"}) == \
        ["marker fast", "tests/nope.py"]
    assert missing_in(("python", "-m", "charlstm.nope"), set()) == ["module charlstm.nope"]
    assert missing_in(("bash", "bench/nope.sh"), set()) == ["bench/nope.sh"]
    assert missing_in(("python", "tools/make_starter.py", "corpora/later.txt"), set()) == []


def test_powershell_setup_does_what_the_posix_setup_does():
    """The README's Windows lines install the same things and run the same commands as its Linux and macOS
    lines, in the same order (paths written with \\, the venv's programs called by path)."""
    readme = ROOT / "README.md"
    posix = [b.text.strip() for b in fenced_blocks(readme) if b.lang == "" and "python3 -m venv" in b.text]
    windows = [b.text.strip() for b in fenced_blocks(readme) if b.lang == POWERSHELL]
    assert len(posix) == len(windows) == 2

    def steps(line: str, sep: str) -> list[str]:
        out = []
        for part in line.split(sep):
            part = part.strip().replace("\\", "/").replace(".venv/Scripts/", "")
            if part.startswith(("python3 -m venv", "py -m venv", ". .venv")):
                continue  # making and entering the environment differ by design
            out.append(part.removeprefix("python -m ").removeprefix("python3 -m "))
        return out
    for p, w in zip(posix, windows):
        assert steps(p, "&&") == steps(w, ";"), (p, w)
