import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL, posix_only

from charlstm.errors import CheckpointError
from charlstm.store import checkpoint
from charlstm.training.start import train

PACKAGE = Path(__file__).resolve().parents[2] / "charlstm"


@pytest.fixture
def run_dir(tmp_path, corpus_file, tiny_config):
    d = tmp_path / "run"
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=6), run_dir=d))
    return d


def test_checkpoint_is_a_plain_dict_loadable_with_weights_only(run_dir):
    raw = torch.load(run_dir / "last.pt", weights_only=True)
    for key in ("format_version", "model_config", "train_config", "vocab", "model", "optimizer", "scheduler",
                "step", "cursor", "epoch", "hidden", "rng", "best_val_loss", "metrics", "corpus",
                "charlstm_version", "torch_version"):
        assert key in raw, key
    assert raw["step"] == 6 and raw["format_version"] == checkpoint.FORMAT_VERSION
    checkpoint.check_plain(raw)


def test_check_plain_rejects_objects():
    class Thing:
        pass
    with pytest.raises(TypeError, match="Thing"):
        checkpoint.check_plain({"a": [1, {"b": Thing()}]})
    with pytest.raises(TypeError):
        checkpoint.check_plain({"v": torch.__version__})  # a str subclass


def test_exception_mid_save_leaves_previous_file_identical(run_dir, monkeypatch):
    path = run_dir / "last.pt"
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"partial bytes")
        raise RuntimeError("boom")
    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(CheckpointError, match="could not save .*: boom; the previous checkpoint is untouched"):
        checkpoint.save({"x": 1}, path)
    assert path.read_bytes() == before
    assert not [p for p in run_dir.iterdir() if checkpoint.TMP_MARK in p.name]


def test_disk_full_leaves_previous_file_and_no_temp(run_dir, monkeypatch):
    path = run_dir / "last.pt"
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CheckpointError, match="No space left"):
        checkpoint.save(checkpoint.load(path), path)
    assert path.read_bytes() == before
    assert not [p for p in run_dir.iterdir() if checkpoint.TMP_MARK in p.name]


@posix_only("SIGKILL sent by the process to itself")
def test_sigkill_between_write_and_rename(run_dir):
    path = run_dir / "last.pt"
    before = path.read_bytes()
    code = (
        "import os, signal, sys; from pathlib import Path; from charlstm.store import checkpoint\n"
        "p = Path(sys.argv[1]); ck = checkpoint.load(p); ck['step'] = 999\n"
        "os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)\n"
        "checkpoint.save(ck, p)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True)
    assert proc.returncode == -9
    assert path.read_bytes() == before
    assert checkpoint.load(path)["step"] == 6
    orphans = [p for p in run_dir.iterdir() if checkpoint.TMP_MARK in p.name]
    assert len(orphans) == 1
    assert checkpoint.remove_orphans(run_dir) == orphans and orphans[0].exists() is False


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


def corrupt(run_dir, edit):
    ck = torch.load(run_dir / "last.pt", weights_only=True)
    edit(ck)
    out = run_dir / "edited.pt"
    torch.save(ck, out)
    return out


@pytest.mark.parametrize("edit, message", [
    (lambda ck: ck.update(format_version=99), "format version 99"),
    (lambda ck: ck["model"].update({"head.weight": torch.zeros(3, 3)}), "head.weight has shape"),
    (lambda ck: ck["model"]["embed.weight"].fill_(float("nan")), "NaN or infinite"),
    (lambda ck: ck.update(vocab={"chars": "ab", "normalization": "NFC"}), "vocabulary holds 2"),
    (lambda ck: ck["model"].pop("head.bias"), "missing: head.bias"),
    (lambda ck: ck.pop("model"), "not a charlstm checkpoint"),
])
def test_validation_errors(run_dir, edit, message):
    with pytest.raises(CheckpointError, match=re.escape(message)):
        checkpoint.load(corrupt(run_dir, edit))


def test_checkpoint_from_before_weight_drop_loads_without_it(run_dir):
    """Checkpoints written before --weight-drop existed have no such field: they load as 0."""
    old = corrupt(run_dir, lambda ck: ck["model_config"].pop("weight_drop"))
    ck = checkpoint.load(old)
    assert "weight_drop" not in ck["model_config"]
    model, _ = checkpoint.build_model(ck)
    assert model.config.weight_drop == 0.0
    assert torch.equal(model.head.weight, ck["model"]["head.weight"])


def test_truncated_and_garbage_files(run_dir):
    data = (run_dir / "last.pt").read_bytes()
    (run_dir / "cut.pt").write_bytes(data[: len(data) // 2])
    (run_dir / "junk.pt").write_bytes(b"not a checkpoint at all")
    for name in ("cut.pt", "junk.pt"):
        with pytest.raises(CheckpointError, match="corrupt"):
            checkpoint.load(run_dir / name)


def test_fallback_to_newest_good_checkpoint(run_dir):
    (run_dir / "last.pt").write_bytes(b"broken")
    os.utime(run_dir / "best.pt", (1, 1))
    ck, path, problems = checkpoint.load_newest_good(run_dir)
    assert path.name == "best.pt" and len(problems) == 1 and "last.pt" in problems[0]


OLD = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoint-1391657.pt"


def test_checkpoints_written_before_the_layout_change_still_load():
    # written by charlstm at commit 1391657 (before the cli/ package and runs.py): a 1x12 LSTM after
    # 6 steps; the text below is what that version's `charlstm sample --temp 0.8 --seed 3 -n 40
    # --prime "The "` printed for it
    from charlstm.sampling.generate import SampleConfig, generate_text
    ck = checkpoint.load(OLD)
    assert ck["step"] == 6 and ck["charlstm_version"] == "0.1.0"
    model, tok = checkpoint.build_model(ck)
    text = generate_text(model, tok, SampleConfig(length=40, temperature=0.8, seed=3), prime="The ")[0]
    assert text == "\n,b\nh rpmvgr.e gTwtvnTw\nTTbm,,ar.  ae\nah"


def child(code: str, *args) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python (its own memory, limits and signals), text output captured."""
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)


@posix_only("RLIMIT_FSIZE stands in for a full disk")
def test_a_real_full_disk_is_one_error_and_the_old_checkpoint_stays(run_dir):
    # a child process whose files may not grow past 64 KiB: torch.save fails inside its zip writer
    path = run_dir / "last.pt"
    before = path.read_bytes()
    code = ("import resource, signal, sys; from pathlib import Path; from charlstm.store import checkpoint\n"
            "from charlstm.errors import CheckpointError\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process\n"
            "p = Path(sys.argv[1]); ck = checkpoint.load(p); ck['pad'] = bytes(1 << 20)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))\n"
            "try:\n    checkpoint.save(ck, p)\nexcept CheckpointError as e:\n    print(e); sys.exit(3)\n")
    proc = child(code, path)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith(f"could not save {path}: ") and "the previous checkpoint is untouched" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert path.read_bytes() == before
    assert not [p for p in run_dir.iterdir() if checkpoint.TMP_MARK in p.name]


def test_a_save_in_flight_in_a_live_process_is_not_an_orphan(run_dir, tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    try:
        in_flight = run_dir / f".last.pt{checkpoint.TMP_MARK}{live.pid}"
        orphan = run_dir / f".last.pt{checkpoint.TMP_MARK}{int(dead.stdout)}"
        in_flight.write_bytes(b"half")
        orphan.write_bytes(b"half")
        assert checkpoint.remove_orphans(run_dir) == [orphan]
        assert in_flight.exists() and not orphan.exists()
    finally:
        live.kill()
        live.wait()


@posix_only("a symlink needs admin rights on Windows")
def test_a_temp_file_link_is_never_followed(run_dir, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    path = run_dir / "last.pt"
    (run_dir / f".last.pt{checkpoint.TMP_MARK}{os.getpid()}").symlink_to(victim)
    checkpoint.save(checkpoint.load(path), path)
    assert victim.read_text() == "keep me"
    checkpoint.load(path)


def _crafted(ck, change):
    import copy
    ck = copy.deepcopy(ck)
    change(ck)
    return ck


CRAFTED = {
    "huge hidden": (lambda c: c["model_config"].update(hidden=10**9), "parameters or more; charlstm stops at"),
    "hidden just under the bound": (lambda c: c["model_config"].update(hidden=8000), "weights do not match|has shape"),
    "hidden as text": (lambda c: c["model_config"].update(hidden="12"), "must be a finite int"),
    "empty train config": (lambda c: c.update(train_config={}), "holds no training config"),
    "train config with inf lr": (lambda c: c["train_config"].update(lr=float("inf")), "--lr must be a finite float"),
    "no corpus": (lambda c: c.pop("corpus"), "corpus record"),
    "step as text": (lambda c: c.update(step="many"), "step is 'many', not a count"),
    "negative cursor": (lambda c: c.update(cursor=-1), "cursor is -1"),
    "best val NaN": (lambda c: c.update(best_val_loss=float("nan")), "best_val_loss is nan"),
    "metrics not a list": (lambda c: c.update(metrics="x"), "metrics are not a list"),
    "vocabulary too short": (lambda c: c["vocab"].update(chars=["a"]), "vocabulary|characters"),
    "weights not a dict": (lambda c: c.update(model=[1, 2]), "not a state dict"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_checkpoints_are_one_clear_error_before_anything_is_allocated(run_dir, tmp_path, case):
    change, message = CRAFTED[case]
    bad = tmp_path / "crafted.pt"
    torch.save(_crafted(checkpoint.load(run_dir / "last.pt"), change), bad)
    code = ("import sys, time; from charlstm.store import checkpoint\n"
            "from charlstm.errors import CheckpointError\n"
            # VmHWM: this process's peak resident memory (ru_maxrss would carry the forking parent's over exec)
            "def mb(key):\n"
            "    return int(next(x for x in open('/proc/self/status') if x.startswith(key)).split()[1]) / 1024\n"
            "imported, before = mb('VmHWM'), mb('VmRSS')\n"
            "open('/proc/self/clear_refs', 'w').write('5')\n"  # from here VmHWM is the peak of the load alone
            "t = time.perf_counter()\n"
            "try:\n    checkpoint.load(sys.argv[1])\nexcept CheckpointError as e:\n    msg = str(e)\n"
            "seconds, peak = time.perf_counter() - t, mb('VmHWM')\n"
            "print(seconds, max(imported, peak), peak - before)\n"
            "print(msg)\n")
    proc = child(code, bad)
    assert proc.returncode == 0, proc.stderr
    timing, msg = proc.stdout.splitlines()
    seconds, peak_mb, grown_mb = map(float, timing.split())
    assert re.search(message, msg), msg
    assert seconds < 1.0 and peak_mb < 500
    # bench/RESULTS.md: each refusal takes ~0.02 s and its peak is torch's import; measured here 0.03-0.05 s
    # and under 6 MB over the memory held before the load (the hidden=8000 file would allocate ~1 GB)
    assert seconds < 0.25, seconds
    assert grown_mb < 50, grown_mb


RESUME_ONLY = {
    "hidden state of the wrong shape": lambda c: c["hidden"].__setitem__(0, c["hidden"][0][:, :1]),
    "optimizer group removed": lambda c: c["optimizer"]["param_groups"].pop(),
    "optimizer lr NaN": lambda c: c["optimizer"]["param_groups"][0].update(lr=float("nan")),
    "random state cut": lambda c: c["rng"].update(python=c["rng"]["python"][:10]),
}


@pytest.mark.parametrize("case", sorted(RESUME_ONLY))
def test_training_state_is_checked_before_resume_uses_it(run_dir, case):
    ck = _crafted(checkpoint.load(run_dir / "last.pt"), RESUME_ONLY[case])
    checkpoint.validate(ck, "x.pt")  # still fine to sample from
    with pytest.raises(CheckpointError, match="it cannot be resumed"):
        checkpoint.validate_training_state(ck, "x.pt")


SAVE_UNDER_SIGNAL = """
import glob, os, signal, sys, threading, time
from pathlib import Path
import torch
from charlstm.store import checkpoint
torch.set_num_threads(2)
(torch.randn(500, 500) @ torch.randn(500, 500)).sum()  # torch's worker threads exist, as in training
path = Path(sys.argv[1])
signal.signal(signal.SIGINT, lambda s, f: os._exit(130))  # the CLI's second Ctrl-C
def interrupt():
    while not glob.glob(str(path.parent / ".big.pt.tmp-*")):
        time.sleep(0.001)
    os.kill(os.getpid(), signal.SIGINT)  # to the process, as Ctrl-C and kill send it
    print("sent", flush=True)
threading.Thread(target=interrupt, daemon=True).start()
checkpoint.save({"w": torch.arange(20_000_000, dtype=torch.float32)}, path)
print("saved", flush=True)
time.sleep(5)
"""


@posix_only("SIGINT sent with os.kill")
def test_a_signal_during_a_save_is_handled_after_the_rename(tmp_path):
    path = tmp_path / "big.pt"
    proc = subprocess.run([sys.executable, "-c", SAVE_UNDER_SIGNAL, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert proc.stdout.split() == ["sent"]  # the handler ran (os._exit) right after the rename, inside save
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.arange(20_000_000, dtype=torch.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["big.pt"]


def test_a_save_leaves_the_signal_handlers_as_they_were(tmp_path):
    import signal
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    checkpoint.save({"x": 1}, tmp_path / "a.pt")
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
