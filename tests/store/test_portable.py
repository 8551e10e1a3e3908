"""What differs by operating system in files, processes and text, each checked against the behaviour a
Windows or macOS machine has, reached from Linux: the Windows flags, errors and code pages are planted
where the code reads them. (The devices, the Apple GPU among them: tests/test_devices.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import ROOT

from charlstm.data.tokenfile import Tokens
from charlstm.errors import CharLSTMError, CheckpointError, CorpusError
from charlstm.store import checkpoint, files, portable, runs

WINDOWS_O_BINARY = 0x8000  # the value Windows' C runtime gives O_BINARY


# ---- descriptors are opened binary -----------------------------------------------------------------
def test_every_descriptor_the_package_opens_is_binary_where_the_os_has_the_flag(tmp_path, monkeypatch):
    """With Windows' O_BINARY planted, each way the package opens a descriptor passes it: atomic writes
    (checkpoints, tokens, exports, text), the metrics log and the token cache's record."""
    seen = []
    real_open = os.open

    def recording_open(path, flags, mode=0o777):
        seen.append((os.path.basename(path), flags))
        return real_open(path, flags & ~WINDOWS_O_BINARY, mode)
    monkeypatch.setattr(portable, "O_BINARY", WINDOWS_O_BINARY)
    monkeypatch.setattr(portable.os, "open", recording_open)
    files.write_bytes(tmp_path / "a.bin", b"one\ntwo\n")
    with files.atomic_write(tmp_path / "b.txt", "utf-8") as f:
        f.write("line\n")
    runs.append_metrics(tmp_path, {"step": 1})
    from charlstm.data.textfiles import read_meta
    read_meta(tmp_path / "b.txt")
    assert {name for name, _ in seen} >= {".a.bin.tmp-" + str(os.getpid()), ".b.txt.tmp-" + str(os.getpid()),
                                          "metrics.jsonl", "b.txt"}
    assert all(flags & WINDOWS_O_BINARY for _, flags in seen), seen
    # and text is written with \n line ends on every OS: the same bytes wherever a file was made
    assert (tmp_path / "a.bin").read_bytes() == b"one\ntwo\n" and (tmp_path / "b.txt").read_bytes() == b"line\n"


# ---- positional reads without os.pread ------------------------------------------------------------
def test_token_files_read_at_offsets_without_pread_from_many_threads(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "pread", raising=False)
    ids = np.arange(100_000, dtype=np.uint16)
    (tmp_path / "tokens.bin").write_bytes(ids.tobytes())
    tokens = Tokens(path=tmp_path / "tokens.bin", dtype=np.uint16)
    view = tokens.slice(1000, 90_000)
    errors = []

    def reader(seed):
        rng = np.random.default_rng(seed)
        for _ in range(300):
            a, n = int(rng.integers(0, 80_000)), int(rng.integers(1, 500))
            if not np.array_equal(view.read(a, n), ids[1000 + a:1000 + a + n]):
                errors.append((a, n))
    threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert np.array_equal(view.read(88_990), ids[89_990:90_000])  # clipped at the view's end


# ---- a rename over a file another program holds open ----------------------------------------------
def sharing_violation():
    e = PermissionError(13, "The process cannot access the file because it is being used by another process")
    e.winerror = 32  # what Windows sets on the error
    return e


def test_a_replace_waits_out_a_file_held_open_then_succeeds(tmp_path, monkeypatch):
    real, calls = os.replace, []

    def held_twice(src, dst):
        calls.append(dst)
        if len(calls) <= 2:
            raise sharing_violation()
        real(src, dst)
    monkeypatch.setattr(portable.os, "replace", held_twice)
    files.write_bytes(tmp_path / "last.pt", b"new")
    assert len(calls) == 3 and (tmp_path / "last.pt").read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left


def test_a_file_held_open_for_good_is_one_clear_error_after_a_bounded_wait(tmp_path, monkeypatch):
    (tmp_path / "last.pt").write_bytes(b"old")

    def always_held(src, dst):
        raise sharing_violation()
    monkeypatch.setattr(portable.os, "replace", always_held)
    monkeypatch.setattr(portable, "REPLACE_WAIT", 0.2)
    t = time.monotonic()
    with pytest.raises(CheckpointError, match=r"could not save .*last\.pt: .*held open by another program"):
        checkpoint.save({"format_version": 1}, tmp_path / "last.pt")
    assert 0.2 <= time.monotonic() - t < 2
    assert (tmp_path / "last.pt").read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_refusal_that_is_no_sharing_violation_is_not_retried(tmp_path, monkeypatch):
    calls = []

    def refused(src, dst):
        calls.append(dst)
        raise PermissionError(13, "Permission denied")  # POSIX: no winerror, final
    monkeypatch.setattr(portable.os, "replace", refused)
    with pytest.raises(PermissionError, match="Permission denied"):
        portable.replace(tmp_path / "a", tmp_path / "b")
    assert len(calls) == 1


# ---- is a process alive: asked without a signal -----------------------------------------------------
def test_process_alive_sends_no_signal(monkeypatch):
    def no_kill(*a):
        raise AssertionError("os.kill called: on Windows signal 0 is a console Ctrl-C")
    monkeypatch.setattr(os, "kill", no_kill)
    assert portable.process_alive(os.getpid())
    assert portable.process_alive(1)  # another user's process: alive, though not ours to signal
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert not portable.process_alive(done.pid)
    assert not portable.process_alive(0) and not portable.process_alive(-5)


def test_orphan_temp_files_of_dead_writers_go_and_live_ones_stay_without_a_signal(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "kill", lambda *a: (_ for _ in ()).throw(AssertionError("os.kill called")))
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    dead, live = tmp_path / f".last.pt.tmp-{done.pid}", tmp_path / ".best.pt.tmp-1"
    dead.write_bytes(b"x")
    live.write_bytes(b"y")
    assert checkpoint.remove_orphans(tmp_path) == [dead] and live.exists()


# ---- the run's writer lock (filelock) ---------------------------------------------------------------
def test_the_writer_lock_works_without_fcntl_in_a_child(tmp_path):
    """filelock without fcntl (as on Windows) still refuses a second writer, naming it."""
    code = ("import sys; sys.modules['fcntl'] = None\n"
            "from pathlib import Path; from charlstm.store import runs; from charlstm.errors import RunBusyError\n"
            "d = Path(sys.argv[1])\n"
            "with runs.writer_lock(d):\n"
            "    try:\n"
            "        with runs.writer_lock(d): print('second writer allowed')\n"
            "    except RunBusyError as e: print(e)\n"
            "with runs.writer_lock(d): print('taken again')\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"{tmp_path} is being written by process ") and lines[1] == "taken again", lines


# ---- UTF-8 out, whatever the console's code page ------------------------------------------------------
def test_text_out_is_utf8_through_a_cp1252_console(tmp_path):
    """`PYTHONIOENCODING=cp1252` is what a Windows console redirected to a file gives: the starter's own
    characters still come out, as UTF-8, in the text, in --output and in JSON."""
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "NO_COLOR": "1"}
    args = [sys.executable, "-m", "charlstm", "sample", "starter", "--prime", "├──", "--echo-prime", "-n", "40",
            "--seed", "3", "--temp", "0"]
    redirected = subprocess.run(args, capture_output=True, env=env, timeout=120)
    assert redirected.returncode == 0, redirected.stderr.decode("utf-8", "replace")
    plain = subprocess.run(args, capture_output=True, env={**env, "PYTHONIOENCODING": "utf-8"}, timeout=120)
    assert redirected.stdout == plain.stdout and redirected.stdout.decode("utf-8").startswith("├──")
    out = tmp_path / "out.txt"
    assert subprocess.run([*args, "--output", str(out)], env=env, capture_output=True, timeout=120).returncode == 0
    assert out.read_text(encoding="utf-8") == plain.stdout.decode("utf-8")
    info = subprocess.run([sys.executable, "-m", "charlstm", "info", "starter"], capture_output=True, env=env,
                          timeout=120)
    assert info.returncode == 0 and "↵␣" in info.stdout.decode("utf-8")  # the vocabulary row: not in cp1252


# ---- wildcards as a Windows user types them ---------------------------------------------------------
def test_wildcards_are_expanded_where_the_shell_did_not(tmp_path, monkeypatch):
    from charlstm.data.textfiles import find_files
    for name in ("b.txt", "a.txt", "c.md"):
        (tmp_path / name).write_text("some text\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert [p.name for p in find_files(["*.txt"]).files] == ["a.txt", "b.txt"]
    assert [p.name for p in find_files([str(tmp_path / "?.md"), "a.txt"]).files] == ["c.md", "a.txt"]
    (tmp_path / "[x].txt").write_text("a file named like a pattern\n", encoding="utf-8")
    assert [p.name for p in find_files(["[x].txt"]).files] == ["[x].txt"]  # an existing name is taken as named
    with pytest.raises(CorpusError, match=r"corpus not found: \*\.csv \(no file matches that pattern\)"):
        find_files(["*.csv"])


def test_train_takes_a_quoted_wildcard_from_the_command_line(tmp_path):
    for k in range(2):
        (tmp_path / f"part{k}.txt").write_text("the cat sat on the mat. " * 200, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "charlstm", "train", "part*.txt", "--steps", "2", "--plain",
                          "--layers", "1", "--hidden", "16", "--embed", "8", "--batch-size", "4", "--seq-len", "16",
                          "--device", "cpu", "--precision", "fp32"], cwd=tmp_path, capture_output=True,
                         text=True, encoding="utf-8", timeout=180)
    assert out.returncode == 0, out.stderr
    assert "corpus  2 file(s)" in out.stderr
    assert [p.name.split("-")[0] for p in (tmp_path / "checkpoints").iterdir()] == ["part"]  # no * in a folder name


def test_run_names_are_file_names_on_every_os(tmp_path):
    assert [runs.file_name_part(t) for t in ("part*", "a:b?", "CON", "nul", "..", " notes. ", "día")] == \
        ["part", "ab", "run", "run", "run", "notes", "día"]
    assert runs.default_name(["data/*.txt"], tmp_path).startswith("run-")


# ---- the server refuses a port in use -----------------------------------------------------------------
def test_serve_refuses_a_port_another_server_listens_on():
    from charlstm.cli.serve import _bind
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        one_line = f"^cannot listen on 127.0.0.1:{port}: [^(]+ \\(choose another --port\\)$"
        with pytest.raises(CharLSTMError, match=one_line):
            _bind("127.0.0.1", port)
    finally:
        taken.close()
    free = _bind("127.0.0.1", 0)
    assert free.getsockname()[1] > 0
    free.close()


def test_info_and_the_web_page_are_the_same_read_with_or_without_torch():
    """`info` and `export --format web` read a checkpoint with the torch-free reader (so they run where
    torch is not installed); what they show and write equals what torch's reader gives."""
    from charlstm.cli.jsonlines import dumps, info_record
    from charlstm.export.webpage import model_script
    from charlstm.store import arrays
    starter = ROOT / "charlstm" / "assets" / "starter.pt"
    free, full = arrays.load(starter), checkpoint.load(starter)
    assert dumps(info_record(free, starter)) == dumps(info_record(full, starter))
    assert model_script(free) == model_script(full)
