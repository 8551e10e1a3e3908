"""A run that goes wrong keeps what it had: one writer per run folder, a crafted training state
refused, non-finite weights never saved, a stop while the corpus is read, odd file and folder names.
(Split from test_train.py, which holds a run that goes right.)"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL

from charlstm.errors import ConfigError, NonFiniteError
from charlstm.events import Step
from charlstm.store import runs
from charlstm.training import setup as setup_mod
from charlstm.training.start import resume, train


def losses(events):
    return [e.loss for e in events if isinstance(e, Step)]


def params(path):
    return torch.load(path, weights_only=True)["model"]


# ---- hardening: one writer per run, crafted training state, failed writes, signals, odd file names ----
HOLD = ("import sys, time; from pathlib import Path; from charlstm.store import runs\n"
        "with runs.writer_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)\n")


@pytest.fixture
def held(tmp_path):
    """Hold a folder's writer lock from another process, as a train or resume still running would."""
    procs = []

    def hold(folder):
        folder.mkdir(parents=True, exist_ok=True)
        p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout.readline().strip() == "locked"
        return p
    yield hold
    for p in procs:
        p.kill()
        p.wait()


def test_a_run_being_written_by_another_process_is_refused(tmp_path, corpus_file, tiny_config, held):
    from charlstm.errors import RunBusyError
    busy = tmp_path / "busy"
    other = held(busy)
    (busy / ".tokens.bin.tmp-1").write_bytes(b"theirs")
    with pytest.raises(RunBusyError, match=f"is being written by process {other.pid} "):
        list(train([corpus_file], TINY_MODEL, tiny_config(steps=2), run_dir=busy))
    # nothing removed or added
    assert sorted(p.name for p in busy.iterdir()) == [".lock", ".tokens.bin.tmp-1", ".writer"]


def test_resume_is_refused_while_another_process_writes_the_run(tmp_path, corpus_file, tiny_config, held):
    from charlstm.errors import RunBusyError
    run = tmp_path / "r"
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=4), run_dir=run))
    other = held(run)
    in_flight = run / f".last.pt.tmp-{other.pid}"
    in_flight.write_bytes(b"a save in flight")
    metrics = (run / runs.METRICS).read_bytes()
    for target in (run, None):  # by name, and as the newest run
        with pytest.raises(RunBusyError, match=f"process {other.pid}"):
            list(resume(target, root=tmp_path, overrides={"steps": 6}))
    assert in_flight.exists() and (run / runs.METRICS).read_bytes() == metrics


def test_the_lock_is_released_when_the_run_ends_fails_or_is_closed(tmp_path, corpus_file, tiny_config):
    from charlstm.errors import RunBusyError
    run = tmp_path / "r"
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=2), run_dir=run))
    assert not runs.is_busy(run)
    events = resume(run, overrides={"steps": 4})
    next(events)
    assert runs.is_busy(run)
    with pytest.raises(RunBusyError, match="is being written by process"):
        list(resume(run, overrides={"steps": 4}))  # a second writer is refused, even in the same process
    events.close()
    assert not runs.is_busy(run)
    with pytest.raises(ConfigError):  # a refusal under the lock releases it too
        list(train([corpus_file], TINY_MODEL, tiny_config(steps=2), run_dir=run))
    assert not runs.is_busy(run)
    assert list(resume(run, overrides={"steps": 4}))[-1].step == 4
    assert not runs.is_busy(run)


def crafted_resume(run, change):
    from charlstm.store import checkpoint
    ck = checkpoint.load(run / "last.pt")
    change(ck)
    (run / "best.pt").unlink(missing_ok=True)
    checkpoint.save(ck, run / "last.pt")


def _cut_moment(c):
    state = c["optimizer"]["state"]
    k = next(iter(state))
    state[k]["exp_avg"] = state[k]["exp_avg"].flatten()[:3]


CRAFTED_STATE = {
    "moment of the wrong shape": (_cut_moment, "optimizer state does not fit the model"),
    "betas as text": (lambda c: c["optimizer"]["param_groups"][0].update(betas="xy"), "betas"),
    "fused turned on": (lambda c: c["optimizer"]["param_groups"][0].update(fused=True), "fused"),
    "unknown optimizer entry": (lambda c: next(iter(c["optimizer"]["state"].values())).update(extra=1), "unknown"),
    "params of another layout": (lambda c: c["optimizer"]["param_groups"][1]["params"].append(
        c["optimizer"]["param_groups"][0]["params"].pop()), "cannot be restored \\(ValueError"),
    "torch random state as floats": (lambda c: c["rng"].update(torch=c["rng"]["torch"].float()), "random state"),
    "torch random state cut": (lambda c: c["rng"].update(torch=c["rng"]["torch"][:5]), "cannot be restored"),
    "loss scaler as text": (lambda c: c.update(scaler={"scale": "big"}), "loss scaler"),
    "hidden state NaN": (lambda c: c["hidden"][0].fill_(float("nan")), "hidden state"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED_STATE))
def test_a_crafted_training_state_is_refused_before_the_run_folder_changes(tmp_path, corpus_file, tiny_config, case):
    import os

    from charlstm.errors import CheckpointError
    run = tmp_path / "r"
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=4), run_dir=run))
    change, message = CRAFTED_STATE[case]
    crafted_resume(run, change)
    os.utime(corpus_file, ns=(1, 1))  # the corpus looks changed: resume would re-encode tokens.bin
    before = {p.name: (p.stat().st_ino, p.read_bytes()) for p in run.iterdir() if p.name != ".lock"}
    with pytest.raises(CheckpointError, match=message) as e:
        list(resume(run, overrides={"steps": 6}))
    assert str(run / "last.pt") in str(e.value) and "\n" not in str(e.value)
    assert {p.name: (p.stat().st_ino, p.read_bytes()) for p in run.iterdir() if p.name != ".lock"} == before


def test_a_torn_metrics_line_is_skipped_and_said(tmp_path, corpus_file, tiny_config):
    run = tmp_path / "r"
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=4), run_dir=run))
    with open(run / runs.METRICS, "a") as f:
        f.write('{"kind": "train", "st')  # a write cut short by a full disk
    ev = list(resume(run, overrides={"steps": 6}))
    assert "skipped 1 unreadable line(s) in metrics.jsonl (a write cut short)" in ev[0].notes
    assert ev[-1].reason == "done" and runs.read_metrics(run)[1] == 0


def test_non_finite_weights_never_overwrite_the_last_good_checkpoint(tmp_path, corpus_file, tiny_config, monkeypatch):
    from charlstm.store import checkpoint
    real = setup_mod.make_optimizer

    def poisoned(model, cfg):
        opt = real(model, cfg)
        step, calls = opt.step, {"n": 0}

        def bad_step(*a, **kw):
            out = step(*a, **kw)
            calls["n"] += 1
            if calls["n"] == 5:  # the 5th update overflows: the 6th loss is NaN
                next(model.parameters()).data.fill_(float("inf"))
            return out
        opt.step = bad_step
        return opt
    monkeypatch.setattr(setup_mod, "make_optimizer", poisoned)
    got = []
    with pytest.raises(NonFiniteError, match="last good checkpoint was kept") as e:
        for ev in train([corpus_file], TINY_MODEL, tiny_config(steps=20, save_every=2, eval_every=100),
                        run_dir=tmp_path / "r"):
            got.append(ev)
    assert got[-1].reason == "nonfinite" and "last good checkpoint was kept" in got[-1].message
    assert "step 5" in str(e.value)
    assert checkpoint.load(tmp_path / "r" / "last.pt")["step"] == 4  # finite weights, loadable


def test_a_stop_while_reading_the_corpus_leaves_nothing(tmp_path, tiny_config, monkeypatch):
    from charlstm.data import textfiles
    from charlstm.errors import Interrupted
    monkeypatch.setattr(textfiles, "BLOCK", 1 << 12)
    big = tmp_path / "big.txt"
    big.write_text(("the quick brown fox jumps over the lazy dog\n" * 50) * 200)  # ~450 blocks
    asked = {"n": 0}

    def stop():
        asked["n"] += 1
        return asked["n"] > 20
    with pytest.raises(Interrupted, match="stopped while reading the corpus; nothing was kept"):
        list(train([big], TINY_MODEL, tiny_config(), root=tmp_path / "ck", should_stop=stop))
    assert asked["n"] == 21  # asked once per block, stopped at once
    assert list((tmp_path / "ck").iterdir()) == []


def test_a_directory_holding_its_own_runs_trains_and_resumes(tmp_path, corpus_file, tiny_config):
    data = tmp_path / "data"
    data.mkdir()
    (data / "verse.txt").write_text(corpus_file.read_text())
    (data / "old.pt").write_bytes(b"not text")
    ck = data / "checkpoints"
    ev = list(train([data], TINY_MODEL, tiny_config(steps=4), root=ck))
    first = Path(ev[0].run_dir)
    ev = list(train([data], TINY_MODEL, tiny_config(steps=4), root=ck))  # the first run is not read as text
    assert any(f"skipped {first} (a charlstm run folder)" == n for n in ev[0].notes), ev[0].notes
    ev = list(resume(first, overrides={"steps": 6}))
    assert ev[-1].reason == "done" and ev[-1].step == 6


def test_a_file_name_that_is_not_utf8_trains_and_resumes(tmp_path, corpus_file, tiny_config):
    import os

    from charlstm.store import checkpoint
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.txt"))
    odd.write_text(corpus_file.read_text())
    ev = list(train([odd], TINY_MODEL, tiny_config(steps=4), root=tmp_path / "ck"))
    run = Path(ev[0].run_dir)
    assert run.name.startswith("caf\udce9-")
    ck = checkpoint.load(run / "last.pt")
    assert ck["corpus"]["paths"] == [str(odd)] and ck["run_name"] == run.name
    assert "caf\\udce9.txt" in (run / runs.CORPUS_META).read_text()
    ev = list(resume(run, overrides={"steps": 6}))
    assert ev[-1].reason == "done" and ev[-1].step == 6
