"""The README's promise for bad input, held case by case: every failure a user can cause is one line on
stderr and exit 1 (a usage error from the option parser: exit 2, in a box that names the option), never
a traceback, and nothing is left behind: no run folder, no output file, no temp file, an existing
output file unchanged.

One tiny model is trained once for the module; the crafted checkpoints are built from it.
"""
from __future__ import annotations

import pytest
from bad_world import TINY, check_refused, invoke, make_world, snapshot


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory)


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


def test_normalization_is_case_insensitive(world, tmp_path):
    r = invoke(["train", world.corpus, "--root", tmp_path, "--name", "nfc", "--steps", 1, "--normalization", "nfc",
                *TINY])
    assert r.exit_code == 0, r.output
