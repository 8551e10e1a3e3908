"""The whole tool run as on an operating system without POSIX (tests/as_foreign_os.py): train, resume,
sample, eval, export in each format and serve, each a child process, and everything passes. What this
cannot show (Windows' own file semantics, its console, the Apple GPU) is in docs/install.md."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from conftest import ROOT, VERSE

FOREIGN = ROOT / "tests" / "as_foreign_os.py"
TINY = ["--layers", "1", "--hidden", "16", "--embed", "8", "--batch-size", "4", "--seq-len", "16", "--plain",
        "--device", "cpu", "--precision", "fp32", "--eval-every", "10"]


def foreign(*args, cwd, timeout=300) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, str(FOREIGN), *map(str, args)], cwd=cwd, capture_output=True,
                         text=True, encoding="utf-8", timeout=timeout)
    assert out.returncode == 0, f"charlstm {' '.join(map(str, args))}\n{out.stdout}\n{out.stderr}"
    return out


def test_the_simulation_takes_the_posix_parts_away(tmp_path):
    code = ("import runpy, sys, os; runpy.run_path(sys.argv[1])\n"
            "for m in ('fcntl', 'termios', 'resource', 'pwd', 'grp'):\n"
            "    try:\n        __import__(m); print('importable', m)\n    except ImportError: pass\n"
            "print([n for n in ('pread', 'pwrite', 'O_NOFOLLOW') if hasattr(os, n)])\n"
            "try:\n    os.kill(os.getpid(), 0)\nexcept OSError as e: print('kill raises', e.errno)\n")
    out = subprocess.run([sys.executable, "-c", code, str(FOREIGN)], capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines() == ["[]", "kill raises 87"], out.stdout + out.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained and resumed under the simulation, with an orphan temp file of a dead writer between."""
    work = tmp_path_factory.mktemp("foreign")
    (work / "verse.txt").write_text(VERSE * 12, encoding="utf-8")
    foreign("train", "verse.txt", "--name", "r", "--steps", "20", *TINY, cwd=work)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = work / "checkpoints" / "r" / f".last.pt.tmp-{dead.pid}"
    orphan.write_bytes(b"left by a writer that died")
    resumed = foreign("resume", "r", "--steps", "30", "--plain", "--device", "cpu", cwd=work)
    assert not orphan.exists() and "removed 1 temp file(s)" in resumed.stderr + resumed.stdout
    return work


def test_train_and_resume_run_and_the_run_is_whole(trained):
    from charlstm.store import checkpoint
    saved = checkpoint.load(trained / "checkpoints" / "r" / "last.pt")
    assert saved["step"] == 30
    assert (trained / "checkpoints" / "r" / "metrics.jsonl").read_bytes().count(b"\r") == 0


def here(*args, cwd) -> str:
    out = subprocess.run([sys.executable, "-m", "charlstm", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                         encoding="utf-8", timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("engine", ["numpy", "plain"])
def test_sample_gives_the_same_text_as_without_the_simulation(trained, engine):
    args = ["sample", "r", "-n", "80", "--seed", "5", "--temp", "0.8", "--engine", engine]
    expected = here(*args, cwd=trained)
    assert foreign(*args, cwd=trained).stdout == expected and len(expected) >= 80


def test_eval_scores_a_text_as_without_the_simulation(trained):
    out = foreign("eval", "r", "verse.txt", "--json", cwd=trained).stdout
    assert '"nats_per_char"' in out and out == here("eval", "r", "verse.txt", "--json", cwd=trained)


@pytest.mark.parametrize("fmt, target", [("pt", "slim.pt"), ("onnx", "model.onnx"), ("web", "page")])
def test_export_writes_each_format(trained, fmt, target):
    foreign("export", "r", "--format", fmt, "-o", target, cwd=trained)
    out = trained / target
    assert out.is_dir() and any(out.iterdir()) if fmt == "web" else out.stat().st_size > 1000
    if fmt == "pt":  # the slim file samples as the run does
        a = foreign("sample", "slim.pt", "-n", "40", "--seed", "2", cwd=trained).stdout
        assert a == foreign("sample", "r", "-n", "40", "--seed", "2", cwd=trained).stdout


def test_serve_starts_and_answers(trained):
    proc = subprocess.Popen([sys.executable, str(FOREIGN), "serve", "--port", "0", "--device", "cpu"], cwd=trained,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    try:
        line = proc.stdout.readline()
        assert line.startswith("charlstm playground: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split(": ", 1)[1].strip().rstrip("/")
        assert httpx.get(url + "/", timeout=30).status_code == 200
        assert "r" in [r["id"] for r in httpx.get(url + "/api/runs", timeout=30).json()["runs"]]
    finally:
        proc.kill()
        proc.wait()
