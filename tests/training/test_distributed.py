"""Several processes under torchrun (gloo, CPU): same updates as one process, one writer, a stop on
one rank stops all, and a run resumes with another number of processes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import linux_only

ARGS = ["--hidden", "24", "--embed", "8", "--layers", "2", "--dropout", "0", "--weight-drop", "0", "-b", "4",
        "--seq-len", "16", "--lr", "0.01", "--eval-every", "10", "--log-every", "1", "--sample-every", "0",
        "--precision", "fp32", "--device", "cpu", "--threads", "1", "--plain"]


def torchrun(n: int, *args, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
           "-m", "charlstm", *[str(a) for a in args]]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def charlstm(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "charlstm", *[str(a) for a in args]], capture_output=True,
                          text=True, env=env, timeout=120)


def losses(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if r["kind"] == "train"]
    assert len(steps) == len(set(steps)), "each step is logged once (rank 0 alone writes)"
    return {r["step"]: r["loss"] for r in rows if r["kind"] == "train"}


def test_two_processes_train_like_one_and_resume_with_one(tmp_path, corpus_file):
    p = torchrun(2, "train", corpus_file, "--root", tmp_path, "--name", "two", "--steps", 20, *ARGS)
    out, err = p.communicate(timeout=180)
    assert p.returncode == 0, err[-3000:]
    assert "x 2 processes" in err
    assert sum(line.startswith("step      20 |") for line in err.splitlines()) == 1  # one rank renders
    one = charlstm("train", corpus_file, "--root", tmp_path, "--name", "one", "--steps", 20, *ARGS)
    assert one.returncode == 0, one.stderr[-3000:]

    a, b = losses(tmp_path / "two"), losses(tmp_path / "one")
    assert sorted(a) == list(range(1, 21)) and sorted(b) == sorted(a)
    for step in a:  # the lanes split across ranks + averaged gradients = the one-process update
        assert a[step] == pytest.approx(b[step], rel=2e-4, abs=2e-5), step

    saved = torch.load(tmp_path / "two" / "last.pt", weights_only=True)
    assert saved["step"] == 20 and tuple(saved["hidden"][0].shape) == (2, 4, 24)  # every lane's state
    mine = torch.load(tmp_path / "one" / "last.pt", weights_only=True)
    for k, v in mine["model"].items():
        torch.testing.assert_close(saved["model"][k], v, rtol=2e-3, atol=2e-4)

    r = charlstm("resume", tmp_path / "two", "--steps", 25, "--device", "cpu", "--plain")
    assert r.returncode == 0, r.stderr[-3000:]
    assert torch.load(tmp_path / "two" / "last.pt", weights_only=True)["step"] == 25


def test_batch_must_split_evenly(tmp_path, corpus_file):
    args = [a if a != "4" else "5" for a in ARGS]  # -b 5 over 2 processes
    p = torchrun(2, "train", corpus_file, "--root", tmp_path, "--name", "odd", "--steps", 5, *args)
    _, err = p.communicate(timeout=180)
    assert p.returncode != 0 and "must divide evenly among 2 processes" in err


@linux_only("finds the ranks in /proc and stops one with SIGTERM")
def test_sigterm_on_one_rank_stops_every_rank_at_the_same_step(tmp_path, corpus_file):
    p = torchrun(2, "train", corpus_file, "--root", tmp_path, "--name", "stop", "--steps", 100000, *ARGS,
                 start_new_session=True)
    metrics = tmp_path / "stop" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not metrics.exists() or metrics.read_text().count('"train"') < 30):
        time.sleep(0.2)
    children = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
    assert len(children) == 2
    os.kill(int(children[1]), signal.SIGTERM)  # one rank only
    _, err = p.communicate(timeout=120)
    saved = torch.load(tmp_path / "stop" / "last.pt", weights_only=True)
    assert f"interrupted at step {saved['step']:,}" in err
    assert 30 <= saved["step"] < 100000
    r = charlstm("resume", tmp_path / "stop", "--steps", saved["step"] + 3, "--device", "cpu", "--plain")
    assert r.returncode == 0, r.stderr[-3000:]


NAN_ON_RANK_1 = """
import os
import charlstm.training.loop as t
real, calls = t.compute_loss, [0]

def flaky(model, x, y, state, precision="fp32", style=None):
    loss, new_state = real(model, x, y, state, precision, style)
    calls[0] += 1
    if os.environ["RANK"] == "1" and calls[0] == 7:  # only this process sees a non-finite loss
        loss = loss * float("nan")
    return loss, new_state

t.compute_loss = flaky
from charlstm.cli import main
main()
"""


def test_a_nan_on_one_rank_stops_every_rank_at_the_same_step(tmp_path, corpus_file):
    script = tmp_path / "nan_rank1.py"
    script.write_text(NAN_ON_RANK_1)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script),
           "train", str(corpus_file), "--root", str(tmp_path), "--name", "nan", "--steps", "50", *ARGS]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert p.returncode != 0
    assert "non-finite loss at step 7" in p.stderr
    saved = torch.load(tmp_path / "nan" / "last.pt", weights_only=True)
    assert saved["step"] == 6  # the bad update was applied nowhere; both ranks stopped before it
    rows = [json.loads(line) for line in (tmp_path / "nan" / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in rows) == 6
