"""`charlstm train` and `resume` as processes: two writers, a full disk, a stop while the corpus is read."""

import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import posix_only

from charlstm.store import checkpoint, files, runs

TINY = ["--layers", "1", "--hidden", "16", "--embed", "8", "--batch-size", "4", "--seq-len", "16", "--plain",
        "--device", "cpu", "--eval-every", "1000"]


def charlstm(*args, limit=None, **kw):
    def child():  # files may not grow past `limit` bytes; a failed write, not a killed process (POSIX only)
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return subprocess.Popen([sys.executable, "-m", "charlstm", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8",
                            preexec_fn=child if limit is not None else None, **kw)


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def no_temp_files(folder):
    return not [p for p in folder.rglob("*") if files.TMP_MARK in p.name]


def test_two_trains_of_one_name_the_second_is_refused(tmp_path, corpus_file):
    root = tmp_path / "ck"
    first = charlstm("train", corpus_file, "--name", "same", "--root", root, "--time", "4s", *TINY)
    deadline = time.monotonic() + 60  # the first one holds the run's lock before the second starts, however busy
    while not (root / "same" / runs.LOCK).exists() and time.monotonic() < deadline:  # the machine
        time.sleep(0.05)
    time.sleep(0.2)
    second = charlstm("train", corpus_file, "--name", "same", "--root", root, "--time", "4s", *TINY)
    code2, _, err2 = finish(second)
    code1, _, err1 = finish(first)
    assert code1 == 0, err1
    assert code2 == 1 and f"is being written by process {first.pid}" in err2, err2
    assert len(err2.strip().splitlines()) == 1
    saved = checkpoint.load(root / "same" / "last.pt")
    steps = [r["step"] for r in runs.read_metrics(root / "same")[0] if r["kind"] == "train"]
    assert steps == sorted(set(steps)) and steps[-1] == saved["step"]  # one run's log, not two interleaved


@posix_only("RLIMIT_FSIZE stands in for a full disk")
def test_a_full_disk_while_encoding_is_one_line_and_leaves_nothing(tmp_path, corpus_file):
    big = tmp_path / "big.txt"
    big.write_text(corpus_file.read_text() * 40)  # tokens.bin ~ 90 KB, past the 64 KiB limit
    root = tmp_path / "ck"
    code, _, err = finish(charlstm("train", big, "--name", "r", "--root", root, "--steps", "2", *TINY,
                                   limit=1 << 16))
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert f"could not write {root / 'r' / 'tokens.bin'}: File too large; nothing was kept" in err
    assert not (root / "r").exists() and no_temp_files(root)


@posix_only("RLIMIT_FSIZE stands in for a full disk")
def test_a_full_disk_at_a_save_keeps_the_previous_checkpoint(tmp_path, corpus_file):
    root = tmp_path / "ck"
    code, _, err = finish(charlstm("train", corpus_file, "--name", "r", "--root", root, "--steps", "2", *TINY))
    assert code == 0, err
    last = root / "r" / "last.pt"
    before = last.read_bytes()
    limit = max(p.stat().st_size for p in (root / "r").iterdir() if p.name != "last.pt" and p.name != "best.pt")
    limit = max(limit + 4096, len(before) // 2)  # every other file fits; a checkpoint does not
    assert limit < len(before)
    code, _, err = finish(charlstm("resume", root / "r", "--root", root, "--steps", "4", "--plain", limit=limit))
    assert code == 1 and "could not save" in err and "the previous checkpoint is untouched" in err, err
    assert len([ln for ln in err.strip().splitlines() if ln.startswith("error")]) == 1 and "Traceback" not in err
    assert last.read_bytes() == before and checkpoint.load(last)["step"] == 2
    assert no_temp_files(root)


@posix_only("SIGTERM sent to a child process")
def test_sigterm_while_the_corpus_is_read_stops_at_once_and_leaves_nothing(tmp_path):
    rng = np.random.default_rng(0)
    text = rng.integers(97, 123, size=120 << 20, dtype=np.uint8)
    text[::80] = 10
    big = tmp_path / "big.txt"
    big.write_bytes(text.tobytes())
    root = tmp_path / "ck"
    proc = charlstm("train", big, "--name", "r", "--root", root, "--steps", "2", *TINY)
    deadline = time.monotonic() + 60
    while not (root / "r").exists():  # the run folder is made just before the corpus is read
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    time.sleep(0.3)
    lines: list[tuple[float, str]] = []  # (when, line) of stderr, read as it comes
    reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), ln) for ln in proc.stderr))
    reader.start()
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(120)
    gone = time.monotonic() - sent
    reader.join(10)
    err = "".join(ln for _, ln in lines)
    # README: exit 143 (128 + SIGTERM) after SIGTERM, and "SIGTERM while the corpus is being read stops
    # within about a second and leaves nothing"
    assert code == 143, (code, err)
    said = [when - sent for when, ln in lines if "stopped while reading the corpus; nothing was kept" in ln]
    assert len(said) == 1, err
    assert "Traceback" not in err
    assert not (root / "r").exists()
    # charlstm asks between 1 MB blocks: the stop is said at once (measured 0.01-0.02 s on 2 busy cores)
    assert said[0] < 0.5, said
    # the rest is the interpreter's exit, torch's teardown included (0.8-0.9 s for a bare `import torch` on
    # 2 cores): gone 1.0-1.3 s after the signal there, so "about a second" is held to 1.5 s
    assert gone < 1.5, gone


@pytest.fixture(autouse=True)
def _one_thread_each(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two trains at once on a small machine
