"""Loading a checkpoint never runs its code: every load goes through torch.load(weights_only=True) (or
the torch-free reader that knows only tensor records), and a scan of the package finds no other."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from charlstm.errors import CheckpointError
from charlstm.store import checkpoint

PACKAGE = Path(__file__).resolve().parents[2] / "charlstm"


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_in_a_checkpoint_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "payload": Evil(marker)}, bad)
    with pytest.raises(CheckpointError, match="refused"):
        checkpoint.load(bad)
    proc = subprocess.run([sys.executable, "-m", "charlstm", "sample", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "refused" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()


UNSAFE = re.compile(r"weights_only\s*=\s*False|\bc?[pP]ickle\.(loads?|Unpickler)\b|\bUnpickler\(|"
                    r"from\s+c?[pP]ickle\s+import\s+.*\b(loads?|Unpickler)\b")


def unsafe_loading(package: Path) -> tuple[list[str], list[str]]:
    """Every .py file under `package`, subfolders included: the lines that could unpickle arbitrary
    objects ('path:line'), and the files that call torch.load (paths relative to `package`)."""
    offenders, loaders = [], []
    for p in sorted(package.rglob("*.py")):
        rel = p.relative_to(package).as_posix()
        text = p.read_text(encoding="utf-8")
        offenders += [f"{rel}:{i}" for i, line in enumerate(text.splitlines(), 1) if UNSAFE.search(line)]
        if "torch.load(" in text:
            loaders.append(rel)
    return offenders, loaders


# Files allowed one Unpickler: a subclass whose find_class names the few torch tensor names it
# rebuilds and refuses the rest. tests/sampling/test_numpy_engine.py proves it refuses a pickle naming
# anything else without running it.
RESTRICTED = {"store/arrays.py"}


def test_no_unsafe_loading_anywhere_in_the_package():
    offenders, loaders = unsafe_loading(PACKAGE)
    restricted = [o for o in offenders if o.split(":")[0] in RESTRICTED]
    assert [o for o in offenders if o not in restricted] == []
    for spot in restricted:  # the only line there is the class statement, and find_class is overridden
        rel, line = spot.split(":")
        text = (PACKAGE / rel).read_text(encoding="utf-8")
        assert re.fullmatch(r"class \w+\(pickle\.Unpickler\):", text.splitlines()[int(line) - 1])
        assert re.search(r"def find_class\(self, module: str, name: str\).*?raise Unreadable", text, re.S)
    assert loaders == ["store/checkpoint.py"]  # one loader
    assert len(list(PACKAGE.rglob("*.py"))) > len(list(PACKAGE.glob("*.py")))  # the walk reaches cli/ and below


@pytest.mark.parametrize("line", ["ck = torch.load(path, weights_only=False)", "obj = pickle.load(f)",
                                  "obj = pickle.loads(data)", "u = pickle.Unpickler(f)", "u = Unpickler(f)",
                                  "from pickle import loads", "obj = cPickle.load(f)"])
def test_the_unsafe_loading_scan_finds_an_offender_in_a_subfolder(tmp_path, line):
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "safe.py").write_text("import pickle\nckpt = torch.load(p, weights_only=True)\n")
    (tmp_path / "deep" / "er" / "bad.py").write_text(f"import torch\n\n{line}\n")
    offenders, loaders = unsafe_loading(tmp_path)
    assert offenders == ["deep/er/bad.py:3"]
    assert loaders == (["deep/er/bad.py", "safe.py"] if "torch.load(" in line else ["safe.py"])
