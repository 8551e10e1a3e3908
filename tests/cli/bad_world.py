"""The module folder the bad-input tests run in: one tiny model trained once, corpora that cannot be
trained on, checkpoints crafted from the real one, and an existing output file. Used by
test_bad_inputs.py, test_write_failures.py and test_drawn_inputs.py (each builds its own, once)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

import torch
from conftest import VERSE
from typer.testing import CliRunner

from charlstm.cli import app

TINY = ["--hidden", "8", "--embed", "4", "--layers", "1", "-b", "2", "--seq-len", "8", "--eval-every", "1",
        "--plain", "--precision", "fp32", "--device", "cpu", "--sample-every", "0"]


def invoke(args: list, **kw):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True, **kw)


class _Evil:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def make_world(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    w = SimpleNamespace(d=d, root=d / "ck", corpus=d / "verse.txt", cwd=d / "cwd")
    w.cwd.mkdir()
    w.corpus.write_text(VERSE * 12, encoding="utf-8")
    r = invoke(["train", w.corpus, "--root", w.root, "--name", "good", "--steps", 2, *TINY])
    assert r.exit_code == 0, r.output
    w.run = w.root / "good"
    w.ckpt = w.run / "last.pt"
    (w.root / "emptyrun").mkdir()
    # corpora that cannot be trained on
    c = d / "corpora"
    c.mkdir()
    (c / "emptydir").mkdir()
    (c / "empty.txt").write_bytes(b"")
    (c / "ws.txt").write_text(" \n\t \n" * 50)
    (c / "binary.bin").write_bytes(bytes(range(256)) * 8)
    (c / "short.txt").write_text("ab")
    (c / "many.txt").write_text("abcdefghijklmnopqrstuvwxyz\n" * 40)
    (c / "latin1.txt").write_bytes(("caf\u00e9 au lait\n" * 200).encode("latin-1"))
    (c / "utf16nobom.txt").write_bytes(("plain text here\n" * 100).encode("utf-16-le") + b"\x00")
    # crafted checkpoints, from the real one
    k = d / "crafted"
    k.mkdir()
    good = torch.load(w.ckpt, map_location="cpu", weights_only=False)
    raw = w.ckpt.read_bytes()
    (k / "garbage.pt").write_bytes(os.urandom(4096))
    (k / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    (k / "empty.pt").write_bytes(b"")
    torch.save({**good, "evil": _Evil()}, k / "code.pt")
    torch.save({**good, "model_config": {**good["model_config"], "hidden": 10**9}}, k / "huge.pt")
    torch.save({**good, "train_config": {}}, k / "nocfg.pt")
    torch.save({**good, "step": "many"}, k / "step.pt")
    torch.save([1, 2, 3], k / "list.pt")
    # outputs
    w.existing = d / "existing.txt"
    w.existing.write_text("keep me\n")
    w.afile = d / "afile"
    w.afile.write_text("a file, not a folder\n")
    return w


def snapshot(d: Path) -> dict:
    """Every file and folder under `d`, with a hash of each file's bytes."""
    out = {}
    for p in sorted(d.rglob("*")):
        out[str(p.relative_to(d))] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def check_refused(r, code: int, message: str) -> None:
    """Refused with `code` and nothing on stdout. Exit 1: one line on stderr, `error: ...` holding `message`.
    Exit 2: the option parser's box on stderr saying `message` (an option) got an invalid value, so an
    option that went missing ('No such option') or a refusal of another option does not pass."""
    assert message, "every case names what it expects to read"
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output, r.output
    assert r.exit_code == code, (r.exit_code, r.output)
    assert r.stdout == "", r.stdout
    if code == 1:
        lines = r.stderr.strip("\n").splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
        assert message in lines[0], (message, lines[0])
    else:
        assert f"Invalid value for '{message}'" in r.stderr, (message, r.stderr)
