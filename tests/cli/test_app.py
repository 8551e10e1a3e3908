import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import posix_only
from typer.testing import CliRunner

from charlstm.cli import app

TINY = ["--hidden", "16", "--embed", "8", "--layers", "1", "-b", "4", "--seq-len", "16", "--eval-every", "5",
        "--log-every", "5", "--plain"]


def invoke(*args, **kw):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False, **kw)


def test_train_sample_resume_end_to_end(tmp_path, corpus_file):
    root = tmp_path / "checkpoints"
    r = invoke("train", corpus_file, "--root", root, "--name", "demo", "--steps", 10, *TINY)
    assert r.exit_code == 0, r.output
    assert "step      10" in r.stderr and "charlstm resume" in r.stderr
    assert r.stdout == ""  # training talks on stderr only
    run = root / "demo"
    assert {"last.pt", "best.pt", "metrics.jsonl", "tokens.bin"} <= {p.name for p in run.iterdir()}

    s1 = invoke("sample", "--root", root, "--seed", 4, "-n", 80, "--temp", 0.8, "--prime", "The ")
    s2 = invoke("sample", "--root", root, "--seed", 4, "-n", 80, "--temp", 0.8, "--prime", "The ")
    assert s1.exit_code == 0 and s1.stdout == s2.stdout
    assert s1.stdout.startswith("The ") and len(s1.stdout) == len("The ") + 80 + 1
    assert "sampling from" in s1.stderr and "sampling from" not in s1.stdout

    many = invoke("sample", run, "--seed", 1, "-n", 30, "--num-samples", 3, "--separator", "|", "--no-echo-prime")
    assert many.stdout.count("|") == 2 and len(many.stdout) == 3 * 30 + 2 + 1

    r = invoke("resume", "--root", root, "--steps", 15, "--plain")
    assert r.exit_code == 0, r.output
    assert "resuming demo from step 10" in r.stderr and "step      15" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "nope.txt"], "corpus not found: nope.txt"),
    (["info", "--root", "empty"], "no runs under"),  # sample falls back to the starter model instead
    (["resume", "--root", "empty"], "no runs under"),
    (["train", "CORPUS", "--time", "10"], "write it with a unit"),
])
def test_errors_are_one_red_line(tmp_path, corpus_file, args, message):
    args = [str(corpus_file) if a == "CORPUS" else str(tmp_path / "none.pt") if a == "CKPT" else a for a in args]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith("error: ") and message in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2 and "Traceback" not in r.output


@pytest.mark.parametrize("args, option", [(["--temp", "-1"], "--temp"), (["--top-p", "1.5"], "--top-p"),
                                          (["--top-p", "0"], "--top-p")])
def test_option_ranges_are_usage_errors(args, option):
    r = CliRunner().invoke(app, ["sample", *args])
    assert r.exit_code == 2 and option in r.output


@pytest.mark.parametrize("args, option", [
    (["train", "CORPUS", "--cell", "lstmx"], "--cell"),
    (["train", "CORPUS", "--preset", "huge"], "--preset"),
    (["train", "CORPUS", "--schedule", "linear"], "--schedule"),
    (["train", "CORPUS", "--optimizer", "sgd"], "--optimizer"),
    (["train", "CORPUS", "--precision", "fp8"], "--precision"),
    (["train", "CORPUS", "--normalization", "NFD"], "--normalization"),
    (["train", "CORPUS", "--errors", "skip"], "--errors"),
    (["train", "CORPUS", "--newline", "crlf"], "--newline"),
    (["train", "CORPUS", "--device", "gpu"], "--device"),
    (["resume", "--precision", "fp8"], "--precision"),
    (["sample", "--engine", "turbo"], "--engine"),
    (["sample", "--device", "cuda:x"], "--device"),
    (["eval", "CKPT", "CORPUS", "--device", "tpu"], "--device"),
    (["compare", "CORPUS", "--device", "cuda0"], "--device"),
    (["inspect", "--state", "x"], "--state"),
    (["inspect", "--find", "vowels"], "--find"),
    (["plot", "RUN", "--x", "epoch"], "--x"),
])
def test_bad_choices_are_usage_errors_before_anything_runs(tmp_path, corpus_file, args, option):
    args = [str(corpus_file) if a == "CORPUS" else str(tmp_path / "none.pt") if a == "CKPT"
            else str(tmp_path / "run") if a == "RUN" else a for a in args]
    root = tmp_path / "checkpoints"
    r = CliRunner().invoke(app, [*args, "--root", str(root)])
    assert r.exit_code == 2, r.output
    assert option in r.output and "Invalid value" in r.output
    assert not root.exists()  # nothing was read or written


def test_device_accepts_every_documented_kind():
    from charlstm.cli.options import check_device
    for name in ("auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"):
        assert check_device(name) == name


def test_debug_shows_the_traceback(tmp_path):
    r = CliRunner().invoke(app, ["--debug", "train", str(tmp_path / "nope.txt")])
    assert r.exit_code == 1 and type(r.exception).__name__ == "CorpusError"


def test_help_does_not_import_torch():
    code = ("import sys; from charlstm.cli import app\n"
            "for args in (['--help'], ['sample', '--help'], ['train', '--help']):\n"
            "    try: app(args)\n"
            "    except SystemExit: pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_version():
    from charlstm import __version__
    assert invoke("--version").stdout.strip() == f"charlstm {__version__}"


def start_training(tmp_path, corpus_file, *extra):
    log = open(tmp_path / "log.txt", "w")
    proc = subprocess.Popen([sys.executable, "-m", "charlstm", "train", str(corpus_file), "--root",
                             str(tmp_path / "ck"), "--name", "sig", "--time", "2m", "--hidden", "256",
                             "--layers", "2", "-b", "4", "--seq-len", "64", "--log-every", "1", "--plain", *extra],
                            stdout=subprocess.PIPE, stderr=log, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.time() + 60
    while "step " not in (tmp_path / "log.txt").read_text() and time.time() < deadline:
        time.sleep(0.05)
    return proc


@posix_only("SIGINT and SIGTERM sent to a child process")
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_and_exits(tmp_path, corpus_file, sig, code):
    proc = start_training(tmp_path, corpus_file)
    proc.send_signal(sig)
    assert proc.wait(60) == code
    log = (tmp_path / "log.txt").read_text()
    assert "interrupted at step" in log and f"charlstm resume {tmp_path / 'ck' / 'sig'}" in log
    assert "\x1b" not in log  # a redirected log holds no terminal control codes
    from charlstm.store import checkpoint
    assert checkpoint.load(tmp_path / "ck" / "sig" / "last.pt")["step"] >= 1


@posix_only("SIGINT sent to a child process")
def test_second_ctrl_c_quits_at_once(tmp_path, corpus_file):
    proc = start_training(tmp_path, corpus_file, "--hidden", "1024")  # slow steps and saves
    proc.send_signal(signal.SIGINT)
    deadline = time.time() + 30
    while "saving at the next step boundary" not in (tmp_path / "log.txt").read_text() and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130
    assert "interrupted at step" not in (tmp_path / "log.txt").read_text()
    last = tmp_path / "ck" / "sig" / "last.pt"
    if last.exists():  # only a complete file can be there: saves are atomic
        from charlstm.store import checkpoint
        checkpoint.load(last)


def test_corrupt_checkpoint_is_one_error_line(tmp_path):
    bad = tmp_path / "torn.pt"
    bad.write_bytes(b"PK\x03\x04 torn zip")
    r = CliRunner().invoke(app, ["sample", str(bad)])
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and "corrupt" in r.stderr
