"""A save leaves the old checkpoint or the whole new one, whatever happens meanwhile: an exception, a
full disk, SIGKILL, a link planted at the temp name, Ctrl-C or SIGTERM during the write; a temp file of
a live writer is left alone."""

import errno
import os
import subprocess
import sys

import pytest
import torch
from conftest import posix_only

from charlstm.errors import CheckpointError
from charlstm.store import checkpoint


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
