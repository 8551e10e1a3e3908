"""The README's promise for bad input, held case by case: every failure a user can cause is one line on
stderr and exit 1 (a usage error from the option parser: exit 2, in a box that names the option), never
a traceback, and nothing is left behind: no run folder, no output file, no temp file, an existing
output file unchanged.

One tiny model is trained once for the module; the crafted checkpoints are built from it.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import VERSE, posix_only
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from charlstm.cli import app

TINY = ["--hidden", "8", "--embed", "4", "--layers", "1", "-b", "2", "--seq-len", "8", "--eval-every", "1",
        "--plain", "--precision", "fp32", "--device", "cpu", "--sample-every", "0"]


def invoke(args: list, **kw):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True, **kw)


class _Evil:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
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


C, K, R, O = "{c}", "{k}", "{root}", "{d}"  # corpora, crafted checkpoints, runs, the module folder
TR = ["train", "{corpus}", "--root", R, "--steps", "1", "--plain"]
RS = ["resume", f"{R}/good", "--root", R]
SA = ["sample", f"{R}/good", "-n", "5"]
CO = ["compare", "{corpus}", "--root", R, "--steps", "1", "--plain"]

CASES = [
    # ---- train: the corpus ------------------------------------------------------------------------
    ("train-missing", ["train", f"{C}/nope.txt", "--root", R], 1, "not found"),
    ("train-emptydir", ["train", f"{C}/emptydir", "--root", R], 1, "emptydir"),
    ("train-empty-file", ["train", f"{C}/empty.txt", "--root", R], 1, f"corpus is empty: {C}/empty.txt"),
    ("train-whitespace", ["train", f"{C}/ws.txt", "--root", R, "--steps", "1"], 1, "corpus holds only whitespace"),
    ("train-binary", ["train", f"{C}/binary.bin", "--root", R], 1, "binary"),
    ("train-too-short", ["train", f"{C}/short.txt", "--root", R], 1, "corpus too short: 3 training characters"),
    ("train-max-vocab", ["train", f"{C}/many.txt", "--root", R, "--max-vocab", "5"], 1,
     "the corpus has 27 distinct characters, more than --max-vocab 5"),
    ("train-undecodable", ["train", f"{C}/latin1.txt", "--root", R], 1, "latin1.txt"),
    ("train-utf16-no-bom", ["train", f"{C}/utf16nobom.txt", "--root", R, "--encoding", "utf-16"], 1,
     f"{C}/utf16nobom.txt"),
    ("train-pattern-nothing", ["train", C, "--root", R, "--pattern", "*.nothing"], 1, "*.nothing"),
    ("train-root-is-file", ["train", "{corpus}", "--root", f"{O}/afile", "--steps", "1"], 1, "afile"),
    ("train-existing-run", [*TR, "--name", "good"], 1, "already holds a run"),
    # ---- train: option values ---------------------------------------------------------------------
    ("train-encoding-hex", [*TR, "--encoding", "hex"], 2, "--encoding"),
    ("train-encoding-rot13", [*TR, "--encoding", "rot13"], 2, "--encoding"),
    ("train-encoding-unknown", [*TR, "--encoding", "klingon"], 2, "--encoding"),
    ("train-encoding-empty", [*TR, "--encoding", ""], 2, "--encoding"),
    ("train-threads-0", [*TR, "--threads", "0"], 2, "--threads"),
    ("train-threads-2**40", [*TR, "--threads", str(2**40)], 2, "--threads"),
    ("train-threads-negative", [*TR, "--threads", "-3"], 2, "--threads"),
    ("train-threads-word", [*TR, "--threads", "many"], 2, "--threads"),
    ("train-hidden-1e9", [*TR, "--hidden", str(10**9)], 1, "parameters"),
    ("train-hidden-0", [*TR, "--hidden", "0"], 2, "--hidden"),
    ("train-hidden-float", [*TR, "--hidden", "1.5"], 2, "--hidden"),
    ("train-layers-0", [*TR, "--layers", "0"], 2, "--layers"),
    ("train-layers-1e6", [*TR, "--layers", str(10**6)], 1, "parameters"),
    ("train-embed-negative", [*TR, "--embed", "-1"], 2, "--embed"),
    ("train-dropout-1.5", [*TR, "--dropout", "1.5"], 2, "--dropout"),
    ("train-dropout-nan", [*TR, "--dropout", "nan"], 2, "--dropout"),
    ("train-weight-drop-inf", [*TR, "--weight-drop", "inf"], 2, "--weight-drop"),
    ("train-lr-nan", [*TR, "--lr", "nan"], 2, "--lr"),
    ("train-lr-inf", [*TR, "--lr", "inf"], 2, "--lr"),
    ("train-lr-negative", [*TR, "--lr", "-1"], 2, "--lr"),
    ("train-lr-word", [*TR, "--lr", "fast"], 2, "--lr"),
    ("train-min-lr-nan", [*TR, "--min-lr", "nan"], 2, "--min-lr"),
    ("train-clip-nan", [*TR, "--clip", "nan"], 2, "--clip"),
    ("train-clip-inf", [*TR, "--clip", "inf"], 2, "--clip"),
    ("train-weight-decay-nan", [*TR, "--weight-decay", "nan"], 2, "--weight-decay"),
    ("train-epochs-nan", ["train", "{corpus}", "--root", R, "--epochs", "nan"], 2, "--epochs"),
    ("train-epochs-inf", ["train", "{corpus}", "--root", R, "--epochs", "inf"], 2, "--epochs"),
    ("train-epochs-negative", ["train", "{corpus}", "--root", R, "--epochs", "-1"], 2, "--epochs"),
    ("train-val-fraction-0", [*TR, "--val-fraction", "0"], 1, "--val-fraction"),
    ("train-val-fraction-nan", [*TR, "--val-fraction", "nan"], 2, "--val-fraction"),
    ("train-val-fraction-2", [*TR, "--val-fraction", "2"], 1, "--val-fraction"),
    ("train-steps-0", ["train", "{corpus}", "--root", R, "--steps", "0"], 2, "--steps"),
    ("train-steps-huge-word", ["train", "{corpus}", "--root", R, "--steps", "1e3"], 2, "--steps"),
    ("train-time-bare-number", ["train", "{corpus}", "--root", R, "--time", "10"], 1, "unit"),
    ("train-time-word", ["train", "{corpus}", "--root", R, "--time", "soon"], 1, "duration"),
    ("train-time-zero", ["train", "{corpus}", "--root", R, "--time", "0s"], 1, "positive"),
    ("train-time-negative", ["train", "{corpus}", "--root", R, "--time", "-5m"], 1, "duration"),
    ("train-save-every-word", [*TR, "--save-every", "often"], 1, "duration"),
    ("train-batch-0", [*TR, "-b", "0"], 2, "--batch-size"),
    ("train-seq-len-0", [*TR, "--seq-len", "0"], 2, "--seq-len"),
    ("train-warmup-negative", [*TR, "--warmup", "-1"], 2, "--warmup"),
    ("train-eval-every-0", [*TR, "--eval-every", "0"], 2, "--eval-every"),
    ("train-log-every-0", [*TR, "--log-every", "0"], 2, "--log-every"),
    ("train-patience-negative", [*TR, "--patience", "-1"], 2, "--patience"),
    ("train-max-bad-negative", [*TR, "--max-bad-steps", "-1"], 2, "--max-bad-steps"),
    ("train-seed-huge", [*TR, "--seed", str(2**70)], 2, "--seed"),
    ("train-seed-negative", [*TR, "--seed", "-1"], 2, "--seed"),
    ("train-eval-chars-negative", [*TR, "--eval-chars", "-1"], 2, "--eval-chars"),
    ("train-sample-every-negative", [*TR, "--sample-every", "-1"], 2, "--sample-every"),
    ("train-max-vocab-1", [*TR, "--max-vocab", "1"], 2, "--max-vocab"),
    ("train-cell", [*TR, "--cell", "transformer"], 2, "--cell"),
    ("train-preset", [*TR, "--preset", "huge"], 2, "--preset"),
    ("train-schedule", [*TR, "--schedule", "linear"], 2, "--schedule"),
    ("train-optimizer", [*TR, "--optimizer", "sgd"], 2, "--optimizer"),
    ("train-precision", [*TR, "--precision", "fp8"], 2, "--precision"),
    ("train-normalization", [*TR, "--normalization", "NFD"], 2, "--normalization"),
    ("train-errors", [*TR, "--errors", "skip"], 2, "--errors"),
    ("train-newline", [*TR, "--newline", "crlf"], 2, "--newline"),
    ("train-device-word", [*TR, "--device", "gpu"], 2, "--device"),
    ("train-name-empty", [*TR, "--name", ""], 2, "--name"),
    ("train-name-dotdot", [*TR, "--name", "../escape"], 2, "--name"),
    # ---- resume -----------------------------------------------------------------------------------
    ("resume-no-runs", ["resume", "--root", f"{O}/nothing"], 1, "no runs"),
    ("resume-unknown", ["resume", "nosuchrun", "--root", R], 1, "nosuchrun"),
    ("resume-markup-name", ["resume", "[bold]x", "--root", R], 1, "[bold]x"),
    ("resume-empty-run-folder", ["resume", f"{R}/emptyrun", "--root", R], 1, "emptyrun"),
    ("resume-threads-0", [*RS, "--threads", "0"], 2, "--threads"),
    ("resume-threads-2**40", [*RS, "--threads", str(2**40)], 2, "--threads"),
    ("resume-epochs-nan", [*RS, "--epochs", "nan"], 2, "--epochs"),
    ("resume-time-word", [*RS, "--time", "later"], 1, "duration"),
    ("resume-steps-0", [*RS, "--steps", "0"], 2, "--steps"),
    ("resume-precision", [*RS, "--precision", "fp8"], 2, "--precision"),
    ("resume-device", [*RS, "--device", "tpu"], 2, "--device"),
    ("resume-log-every-0", [*RS, "--log-every", "0"], 2, "--log-every"),
    # ---- sample -----------------------------------------------------------------------------------
    ("sample-temp-nan", [*SA, "--temp", "nan"], 2, "--temp"),
    ("sample-temp-inf", [*SA, "--temp", "inf"], 2, "--temp"),
    ("sample-temp-negative", [*SA, "--temp", "-1"], 2, "--temp"),
    ("sample-temp-word", [*SA, "--temp", "hot"], 2, "--temp"),
    ("sample-top-p-nan", [*SA, "--top-p", "nan"], 2, "--top-p"),
    ("sample-top-p-inf", [*SA, "--top-p", "inf"], 2, "--top-p"),
    ("sample-top-p-0", [*SA, "--top-p", "0"], 2, "--top-p"),
    ("sample-top-p-1.5", [*SA, "--top-p", "1.5"], 2, "--top-p"),
    ("sample-top-k-0", [*SA, "--top-k", "0"], 2, "--top-k"),
    ("sample-top-k-negative", [*SA, "--top-k", "-4"], 2, "--top-k"),
    ("sample-length-negative", [*SA, "--length", "-1"], 2, "--length"),
    ("sample-num-samples-0", [*SA, "--num-samples", "0"], 2, "--num-samples"),
    ("sample-lines-0", [*SA, "--lines", "0"], 2, "--lines"),
    ("sample-threads-2**40", [*SA, "--threads", str(2**40)], 2, "--threads"),
    ("sample-seed-huge", [*SA, "--seed", str(2**64)], 2, "--seed"),
    ("sample-engine", [*SA, "--engine", "turbo"], 2, "--engine"),
    ("sample-device", [*SA, "--device", "cuda:x"], 2, "--device"),
    ("sample-unknown-prime", [*SA, "--prime", "€"], 1, "€"),
    ("sample-out-missing-dir", [*SA, "-o", f"{O}/no/dir/out.txt"], 1, "does not exist"),
    ("sample-out-is-dir", [*SA, "-o", O], 1, "folder"),
    ("sample-out-existing-bad-prime", [*SA, "-o", f"{O}/existing.txt", "--prime", "€"], 1, "€"),
    ("sample-out-existing-bad-ckpt", ["sample", f"{K}/garbage.pt", "-o", f"{O}/existing.txt"], 1, "garbage.pt"),
    ("sample-unknown-run", ["sample", "nosuchrun", "--root", R], 1, "nosuchrun"),
    ("sample-markup-run", ["sample", "a[/]b", "--root", R], 1, "a[/]b"),
    ("sample-markup-bold-run", ["sample", "[bold]x", "--root", R], 1, "[bold]x"),
    ("sample-empty-run-folder", ["sample", f"{R}/emptyrun"], 1, "emptyrun"),
    ("info-no-runs", ["info", "--root", f"{O}/nothing"], 1, "no runs"),
    ("sample-root-is-file", ["sample", "--root", f"{O}/afile"], 1, f"no runs under {O}/afile"),
    # ---- compare ----------------------------------------------------------------------------------
    ("compare-unknown-cell", [*CO, "--cells", "lstm,transformer"], 1, "transformer"),
    ("compare-no-cells", [*CO, "--cells", ","], 1, "--cells"),
    ("compare-threads-0", [*CO, "--threads", "0"], 2, "--threads"),
    ("compare-threads-2**40", [*CO, "--threads", str(2**40)], 2, "--threads"),
    ("compare-dropout-nan", [*CO, "--dropout", "nan"], 2, "--dropout"),
    ("compare-lr-inf", [*CO, "--lr", "inf"], 2, "--lr"),
    ("compare-time-word", ["compare", "{corpus}", "--root", R, "--time", "soon"], 1, "duration"),
    ("compare-missing-corpus", ["compare", f"{C}/nope.txt", "--root", R, "--steps", "1"], 1, "not found"),
    ("compare-empty-corpus", ["compare", f"{C}/empty.txt", "--root", R, "--steps", "1"], 1,
     f"corpus is empty: {C}/empty.txt"),
    ("compare-hidden-1e9", [*CO, "--hidden", str(10**9)], 1, "parameters"),
    ("compare-too-short", ["compare", f"{C}/short.txt", "--root", R, "--steps", "1"], 1, "corpus too short"),
    ("compare-seed-negative", [*CO, "--seed", "-1"], 2, "--seed"),
    ("compare-name-empty", [*CO, "--name", ""], 2, "--name"),
    # ---- inspect and gates ------------------------------------------------------------------------
    ("inspect-empty-text", ["inspect", f"{R}/good", "--text", ""], 1, "--text is empty"),
    ("inspect-text-and-file", ["inspect", f"{R}/good", "--text", "a", "--file", "{corpus}"], 1, "not both"),
    ("inspect-file-missing", ["inspect", f"{R}/good", "--file", f"{C}/nope.txt"], 1, "nope.txt"),
    ("inspect-file-is-dir", ["inspect", f"{R}/good", "--file", C], 1, "folder"),
    ("inspect-file-undecodable", ["inspect", f"{R}/good", "--file", f"{C}/latin1.txt"], 1, "latin1.txt"),
    ("inspect-file-empty", ["inspect", f"{R}/good", "--file", f"{C}/empty.txt"], 1, "no text"),
    ("inspect-unknown-chars", ["inspect", f"{R}/good", "--text", "€€€"], 1, "€"),
    ("inspect-layer-5", ["inspect", f"{R}/good", "--layer", "5"], 1, "--layer"),
    ("inspect-unit-huge", ["inspect", f"{R}/good", "--unit", str(10**6)], 1, "--unit"),
    ("inspect-unit-negative", ["inspect", f"{R}/good", "--unit", "-1"], 2, "--unit"),
    ("inspect-chars-1", ["inspect", f"{R}/good", "--chars", "1"], 2, "--chars"),
    ("inspect-top-0", ["inspect", f"{R}/good", "--top", "0"], 2, "--top"),
    ("inspect-state", ["inspect", f"{R}/good", "--state", "x"], 2, "--state"),
    ("inspect-find", ["inspect", f"{R}/good", "--find", "vowels"], 2, "--find"),
    ("inspect-html-missing-dir", ["inspect", f"{R}/good", "--html", f"{O}/no/a.html"], 1, "does not exist"),
    ("inspect-html-is-dir", ["inspect", f"{R}/good", "--html", O], 1, "folder"),
    ("inspect-html-existing-bad-text", ["inspect", f"{R}/good", "--text", "€", "--html", f"{O}/existing.txt"],
     1, "€"),
    ("inspect-unknown-run", ["inspect", "nosuchrun", "--root", R], 1, "nosuchrun"),
    ("gates-svg-missing-dir", ["gates", f"{R}/good", "--svg", f"{O}/no/g.svg"], 1, "does not exist"),
    ("gates-svg-is-dir", ["gates", f"{R}/good", "--svg", O], 1, "folder"),
    ("gates-svg-existing-bad-text", ["gates", f"{R}/good", "--text", "€", "--svg", f"{O}/existing.txt"], 1, "€"),
    ("gates-empty-text", ["gates", f"{R}/good", "--text", ""], 1, "--text is empty"),
    ("gates-chars-0", ["gates", f"{R}/good", "--chars", "0"], 2, "--chars"),
    ("gates-markup-run", ["gates", "[bold]x", "--root", R], 1, "[bold]x"),
    # ---- eval -------------------------------------------------------------------------------------
    ("eval-missing-file", ["eval", f"{R}/good", f"{C}/nope.txt"], 1, "nope.txt"),
    ("eval-binary-file", ["eval", f"{R}/good", f"{C}/binary.bin"], 1, "binary"),
    ("eval-undecodable", ["eval", f"{R}/good", f"{C}/latin1.txt"], 1, "latin1.txt"),
    ("eval-batch-0", ["eval", f"{R}/good", "{corpus}", "-b", "0"], 2, "--batch-size"),
    ("eval-seq-len-0", ["eval", f"{R}/good", "{corpus}", "--seq-len", "0"], 2, "--seq-len"),
    ("eval-device", ["eval", f"{R}/good", "{corpus}", "--device", "tpu"], 2, "--device"),
    ("eval-unknown-run", ["eval", "nosuchrun", "{corpus}", "--root", R], 1, "nosuchrun"),
    # ---- info, runs, plot, corpora ----------------------------------------------------------------
    ("info-unknown", ["info", "nosuchrun", "--root", R], 1, "nosuchrun"),
    ("info-markup-name", ["info", "a[/]b", "--root", R], 1, "a[/]b"),
    ("info-empty-run-folder", ["info", f"{R}/emptyrun"], 1, "emptyrun"),
    ("info-root-missing", ["info", "--root", f"{O}/nothing"], 1, "no runs"),
    ("runs-root-missing", ["runs", "--root", f"{O}/nothing"], 1, "does not exist"),
    ("runs-root-is-file", ["runs", "--root", f"{O}/afile"], 1, "not a folder"),
    ("runs-root-empty", ["runs", "--root", C], 1, "no runs"),
    ("plot-unknown-run", ["plot", "nosuchrun", "--root", R, "-o", f"{O}/c.png"], 1, "nosuchrun"),
    ("plot-out-missing-dir", ["plot", f"{R}/good", "-o", f"{O}/no/c.png"], 1, "does not exist"),
    ("plot-out-is-dir", ["plot", f"{R}/good", "-o", O], 1, "folder"),
    ("plot-x", ["plot", f"{R}/good", "--x", "epoch"], 2, "--x"),
    ("plot-empty-run-folder", ["plot", f"{R}/emptyrun", "-o", f"{O}/c.png"], 1, "emptyrun"),
    ("corpora-dir-is-file", ["corpora", "--dir", f"{O}/afile"], 1, "afile"),
    ("corpora-get-unknown", ["corpora", "get", "nosuchcorpus", "--dir", f"{O}/dl"], 1, "unknown corpus"),
    ("corpora-get-dir-is-file", ["corpora", "get", "tinyshakespeare", "--dir", f"{O}/afile"], 1, "afile"),
    ("corpora-get-dir-missing-parent", ["corpora", "get", "tinyshakespeare", "--dir", f"{O}/no/such"], 1,
     "does not exist"),
]
CRAFTED = {  # each crafted checkpoint, and the start of the one line that refuses it
    "garbage": "garbage.pt is corrupt or not a charlstm checkpoint (",
    "truncated": "truncated.pt is corrupt or not a charlstm checkpoint (",
    "empty": "empty.pt is corrupt or not a charlstm checkpoint (",
    "code": "code.pt was refused: it holds objects other than tensors and plain values (eval), which could run code",
    "huge": "huge.pt has an unreadable config or vocabulary: a 1x1000000000 lstm with embed 4 would have 4e+18 "
            "parameters or more",
    "nocfg": "nocfg.pt: it holds no training config",
    "step": "step.pt: step is 'many', not a count",
    "list": "list.pt is not a charlstm checkpoint (missing format_version, model_config, train_config, vocab, model)",
}
for _name in CRAFTED:
    for _cmd in (["info"], ["sample", "-n", "5"], ["resume"], ["inspect"], ["gates"], ["eval", "CKPT", "{corpus}"]):
        if _name in ("garbage", "code", "huge", "nocfg", "step") or _cmd[0] in ("info", "sample"):
            _args = ([_cmd[0], f"{K}/{_name}.pt", *_cmd[2:]] if _cmd[0] == "eval"
                     else [_cmd[0], f"{K}/{_name}.pt", *_cmd[1:]])
            CASES.append((f"{_cmd[0]}-crafted-{_name}", _args, 1, f"{K}/{CRAFTED[_name]}"))


def fill(args: list[str], w) -> list[str]:
    """The case's arguments (or its message, as a one-item list) with the module's folders put in."""
    values = dict(c=w.d / "corpora", k=w.d / "crafted", root=w.root, d=w.d, corpus=w.corpus)
    return [a.format(**values) for a in args]


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


def test_the_matrix_is_large():
    assert len(CASES) >= 100
    assert len({name for name, *_ in CASES}) == len(CASES)
    assert all(message for *_, message in CASES)
    assert all(message.startswith("--") for _, _, code, message in CASES if code == 2)
    commands = {args[0] for _, args, *_ in CASES}
    assert commands >= {"train", "resume", "sample", "compare", "inspect", "gates", "eval", "info", "runs",
                        "plot", "corpora"}


@pytest.mark.parametrize("name, args, code, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_and_leaves_nothing(world, monkeypatch, name, args, code, message):
    monkeypatch.chdir(world.cwd)
    before = snapshot(world.d)
    r = invoke(fill(args, world))
    check_refused(r, code, fill([message], world)[0])
    after = snapshot(world.d)
    assert after == before, {k: after.get(k) for k in set(after) ^ set(before)} or "a file changed"


def test_debug_shows_the_traceback_of_an_os_error(world):
    r = invoke(["--debug", "runs", "--root", world.d / "afile"])
    assert r.exit_code == 1 and r.exception is not None and not isinstance(r.exception, SystemExit)


def deny_writes_under(monkeypatch, folder: Path, access_too: bool = False) -> list[str]:
    """Make the system calls that create or write something inside `folder` fail with EACCES, as they
    would for a user without write permission there (CI runs as root, for whom a chmod changes
    nothing). Reads, and `folder` itself, are left alone. `access_too`: os.access says so as well.
    Returns the paths refused, in order."""
    import builtins
    import errno
    refused: list[str] = []
    real_open, real_mkdir, real_os_open, real_access = builtins.open, os.mkdir, os.open, os.access
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def inside(path) -> bool:
        return isinstance(path, (str, os.PathLike)) and folder in Path(os.path.abspath(path)).parents

    def deny(path):
        refused.append(os.fspath(path))
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    def fake_open(file, mode="r", *args, **kw):
        if inside(file) and any(m in mode for m in "wax+"):
            deny(file)
        return real_open(file, mode, *args, **kw)

    def fake_mkdir(path, *args, **kw):
        if inside(path):
            deny(path)
        return real_mkdir(path, *args, **kw)

    def fake_os_open(path, flags, *args, **kw):
        if inside(path) and flags & writing:
            deny(path)
        return real_os_open(path, flags, *args, **kw)

    def fake_access(path, mode, *args, **kw):
        if mode & os.W_OK and (inside(path) or Path(os.path.abspath(path)) == folder):
            return False
        return real_access(path, mode, *args, **kw)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(os, "open", fake_os_open)
    if access_too:
        monkeypatch.setattr(os, "access", fake_access)
    return refused


def test_no_permission_to_write_the_output_is_one_line_naming_it(world, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    refused = deny_writes_under(monkeypatch, locked)
    r = invoke(["sample", world.run, "-n", 5, "-o", locked / "out.txt"])
    assert refused and refused[0].startswith(f"{locked}{os.sep}"), "the denial was not reached"
    # os.access said yes, so sampling ran and printed its usual lines; the refusal is the one error, last
    assert r.exit_code == 1 and r.stdout == "" and "Traceback" not in r.output, r.output
    lines = r.stderr.strip("\n").splitlines()
    assert [ln for ln in lines if ln.startswith("error")] == [lines[-1]], r.stderr
    assert lines[-1] == f"error: {refused[0]}: Permission denied (check its permissions)", r.stderr
    assert list(locked.iterdir()) == []


def test_an_output_folder_that_says_it_is_not_writable_is_refused_before_sampling(world, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    refused = deny_writes_under(monkeypatch, locked, access_too=True)
    r = invoke(["sample", world.run, "-n", 5, "-o", locked / "out.txt"])
    check_refused(r, 1, f"--output {locked / 'out.txt'}: the folder {locked} is not writable")
    assert refused == [] and list(locked.iterdir()) == []


def test_no_permission_to_make_the_run_folder_is_one_line_and_leaves_nothing(world, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    refused = deny_writes_under(monkeypatch, locked)
    r = invoke(["train", world.corpus, "--root", locked, "--steps", 1, *TINY])
    assert refused and refused[0].startswith(f"{locked}{os.sep}"), "the denial was not reached"
    check_refused(r, 1, f"cannot make the run folder {locked}: Permission denied")
    assert list(locked.iterdir()) == []


def test_normalization_is_case_insensitive(world, tmp_path):
    r = invoke(["train", world.corpus, "--root", tmp_path, "--name", "nfc", "--steps", 1, "--normalization", "nfc",
                *TINY])
    assert r.exit_code == 0, r.output


def test_sample_output_is_written_whole(world, tmp_path):
    out = tmp_path / "s.txt"
    out.write_text("old\n")
    r = invoke(["sample", world.run, "-n", 20, "--seed", 1, "-o", out])
    assert r.exit_code == 0, r.output
    assert len(out.read_text(encoding="utf-8")) == 21 and list(tmp_path.iterdir()) == [out]
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


@posix_only("a symlink needs admin rights on Windows")
def test_an_atomic_write_never_follows_a_symlink_at_the_temp_name(tmp_path):
    from charlstm.store import files
    target = tmp_path / "victim"
    target.write_text("untouched")
    files.temp_path(tmp_path / "out.txt").symlink_to(target)
    with files.atomic_write(tmp_path / "out.txt", "utf-8") as f:
        f.write("x")
    assert target.read_text() == "untouched" and (tmp_path / "out.txt").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "victim"]


def test_a_failed_atomic_write_keeps_the_old_file_and_no_temp_file(tmp_path):
    from charlstm.store import files
    (tmp_path / "out.txt").write_text("old")
    with pytest.raises(ZeroDivisionError), files.atomic_write(tmp_path / "out.txt", "utf-8") as f:
        f.write("half")
        raise ZeroDivisionError
    assert (tmp_path / "out.txt").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


@pytest.mark.parametrize("run_name", ["a[/]b", "[bold]x"])
def test_markup_in_run_names_is_printed_as_is(world, tmp_path, run_name):
    root = tmp_path / "ck"
    for view in (["--plain"], ["--json"], ["--quiet"]) if run_name == "[bold]x" else (["--plain"],):
        name = f"{run_name}{view[0]}"
        r = invoke(["train", world.corpus, "--root", root, "--name", name, "--steps", 2,
                    *[a for a in TINY if a != "--plain"], *view])
        assert r.exit_code == 0, r.output
        assert "Traceback" not in r.output
        if view != ["--quiet"]:
            assert name in (r.stdout if view == ["--json"] else r.stderr)
    name = f"{run_name}--plain"
    for args in (["info", root / name], ["info", root / name, "--json"], ["runs", "--root", root],
                 ["runs", "--root", root, "--json"], ["sample", root / name, "-n", 10, "--seed", 1]):
        r = invoke(args)
        assert r.exit_code == 0 and r.exception is None, (args, r.output)
    assert name in invoke(["info", root / name]).stdout
    assert name in invoke(["runs", "--root", root]).stdout


def test_dashboard_prints_markup_names_as_is(world):
    """The live dashboard, driven with the events of a run whose name is markup."""
    import io

    from rich.console import Console

    from charlstm.cli.dashboard import Dashboard
    from charlstm.cli.plainlog import PlainLog
    from charlstm.events import Started, Stopped
    started = Started(**{**_event_fields(Started), "run_name": "[bold]x", "run_dir": "ck/a[/]b",
                         "corpus": "[red]c.txt", "notes": ["[/]note"]})
    stopped = Stopped(**{**_event_fields(Stopped), "run_dir": "ck/a[/]b", "message": "[/] done"})
    for make in (lambda c: Dashboard(c, refresh_per_second=100), PlainLog):
        buf = io.StringIO()
        con = Console(file=buf, force_terminal=True, width=100, height=40)
        with make(con) as view:
            view.show(started)
            view.notice("[/]stop")
            view.show(stopped)
        text = buf.getvalue()
        assert "[bold]x" in text and "ck/a[/]b" in text and "[red]c.txt" in text


def _event_fields(cls) -> dict:
    """Plausible values for every field of an event class."""
    import dataclasses
    out = {}
    for f in dataclasses.fields(cls):
        t = str(f.type)
        if f.name.endswith("_config"):
            out[f.name] = dict(cell="lstm", layers=1, hidden=8, embed=4, dropout=0.0, batch_size=2, seq_len=8,
                               optimizer="adamw", lr=0.01, schedule="constant", clip=1.0)
        elif f.name == "budget":
            out[f.name] = {"steps": 2}
        elif f.name == "notes":
            out[f.name] = []
        elif "int" in t and "None" in t:
            out[f.name] = None
        elif "float" in t and "None" in t:
            out[f.name] = 1.0
        elif "int" in t:
            out[f.name] = 1
        elif "float" in t:
            out[f.name] = 1.0
        elif "bool" in t:
            out[f.name] = False
        else:
            out[f.name] = "x"
    return out


def test_sample_config_refuses_non_finite_values():
    from charlstm.errors import ConfigError
    from charlstm.sampling.generate import SampleConfig
    for kw in (dict(temperature=math.nan), dict(temperature=math.inf), dict(top_p=math.nan), dict(top_k=0),
               dict(top_p=-math.inf), dict(seed=2**64), dict(length=1.5)):
        with pytest.raises(ConfigError):
            SampleConfig(**kw)


floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -1e308, 0.0, -0.0]))
ints = st.one_of(st.integers(-(2**70), 2**70), st.integers(-3, 40))
words = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
TRAIN_OPTIONS = {"--lr": floats, "--dropout": floats, "--clip": floats, "--val-fraction": floats,
                 "--threads": ints, "--seed": ints, "--hidden": ints, "--seq-len": ints, "--cell": words,
                 "--schedule": words, "--encoding": words, "--normalization": words}
SAMPLE_OPTIONS = {"--temp": floats, "--top-p": floats, "--top-k": ints, "--length": ints, "--seed": ints,
                  "--threads": ints, "--engine": words, "--num-samples": st.integers(-2, 3)}


def _value(v) -> str:
    return repr(v) if isinstance(v, float) else str(v)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_drawn_option_values_never_show_a_traceback(world, tmp_path_factory, data):
    command = data.draw(st.sampled_from(["train", "sample"]))
    table = TRAIN_OPTIONS if command == "train" else SAMPLE_OPTIONS
    chosen = data.draw(st.lists(st.sampled_from(sorted(table)), min_size=1, max_size=3, unique=True))
    extra = []
    for opt in chosen:
        v = data.draw(table[opt])
        if opt in ("--hidden", "--seq-len") and isinstance(v, int) and 64 < v < 10**6:
            v = 64  # an accepted size must still train in well under a second
        if opt == "--length" and isinstance(v, int) and v > 200:
            v = 200
        if opt == "--threads" and isinstance(v, int) and 2 < v <= 1024:
            v = 2  # accepted, and it sets torch's threads for the whole test process
        extra += [opt, _value(v)]
    root = tmp_path_factory.mktemp("drawn")
    if command == "train":
        base = [a for a in TINY if a not in ("--plain",)]
        args = ["train", world.corpus, "--root", root, "--name", "r", "--steps", 1, "--quiet", *base, *extra]
    else:
        args = ["sample", world.run, "-n", 10, *extra]
    threads = torch.get_num_threads()
    try:
        r = invoke(args)
    finally:
        torch.set_num_threads(threads)
    assert r.exception is None or isinstance(r.exception, SystemExit), (args, repr(r.exception))
    assert "Traceback" not in r.output, (args, r.output)
    assert r.exit_code in (0, 1, 2), (args, r.exit_code, r.output)
    if r.exit_code == 1:
        assert len(r.stderr.strip("\n").splitlines()) == 1, (args, r.stderr)
    if r.exit_code != 0 and "NaN or infinite" not in r.stderr:  # a run that trained a step and diverged stays
        assert list(root.iterdir()) == [], (args, r.output)
    assert not [p for p in root.rglob("*") if p.name.endswith((".tmp", ".part"))], args
