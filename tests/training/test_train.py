"""A run that goes right: its events and files, learning, exact resume, budgets, schedules, periodic
saves and what evaluations score. What keeps a run safe when something goes wrong: test_run_safety.py."""

import json
import math
import subprocess
import sys

import pytest
import torch
from conftest import TINY_MODEL

from charlstm.errors import ConfigError, NonFiniteError, ResumeMismatchError
from charlstm.events import Eval, Saved, Skipped, Started, Step, Stopped
from charlstm.store import runs
from charlstm.training import loop as loop_mod
from charlstm.training import plan as plan_mod
from charlstm.training import schedule
from charlstm.training.start import resume, train


def losses(events):
    return [e.loss for e in events if isinstance(e, Step)]


def params(path):
    return torch.load(path, weights_only=True)["model"]


def test_events_and_files(tmp_path, corpus_file, tiny_config):
    cfg = tiny_config(steps=20, eval_every=10, sample_every=1)
    ev = list(train([corpus_file], TINY_MODEL, cfg, run_dir=tmp_path / "r"))
    assert isinstance(ev[0], Started) and isinstance(ev[-1], Stopped) and ev[-1].reason == "done"
    assert [e.step for e in ev if isinstance(e, Step)] == list(range(1, 21))
    assert [e.step for e in ev if isinstance(e, Eval)] == [10, 20]
    assert {e.reason for e in ev if isinstance(e, Saved)} >= {"best", "final"}
    assert (tmp_path / "r" / "last.pt").exists() and (tmp_path / "r" / "best.pt").exists()
    records = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "eval"] == [10, 20]
    assert len([r for r in records if r["kind"] == "train"]) == 20


def test_tiny_model_overfits_tiny_corpus(tmp_path, corpus_file, tiny_config):
    cfg = tiny_config(steps=300, lr=1e-2, eval_every=300, batch_size=8, seq_len=32)
    model = dict(TINY_MODEL, hidden=128, dropout=0.0)
    ev = list(train([corpus_file], model, cfg, run_dir=tmp_path / "r"))
    # the verse repeats 12 times, so a model that memorises it predicts almost every character
    final = [e for e in ev if isinstance(e, Eval)][-1]
    first, last = losses(ev)[0], losses(ev)[-1]
    assert first > 2.3  # about ln(vocabulary) = ln(34) = 3.5 before learning
    assert last < 0.05, last  # memorised: the train windows are predicted almost surely
    # validation lanes start from an empty state, so their first characters stay uncertain
    assert final.val_loss < 0.8, final.val_loss


@pytest.mark.parametrize("where", ["mid_epoch", "epoch_boundary"])
def test_interrupted_and_resumed_run_equals_straight_run(tmp_path, corpus_file, tiny_config, where):
    # dropout 0.3 is on (TINY_MODEL); 23 windows per epoch, so 30 steps cross an epoch boundary
    cfg = tiny_config(steps=30, seq_len=32, eval_every=7, schedule="cosine", warmup=5, sample_every=1,
                      sample_length=20)
    straight = list(train([corpus_file], TINY_MODEL, cfg, run_dir=tmp_path / "a"))
    wpe = None
    for e in straight:
        if isinstance(e, Step) and e.epoch >= 1.0 and wpe is None:
            wpe = e.step  # first step that completes an epoch
    assert wpe is not None and wpe < 30, "the test corpus must span more than one epoch in 30 steps"
    k = wpe if where == "epoch_boundary" else wpe // 2 + 1
    seen = []

    def stop():
        return len(seen) >= k
    first = []
    for e in train([corpus_file], TINY_MODEL, cfg, run_dir=tmp_path / "b", should_stop=stop):
        first.append(e)
        if isinstance(e, Step):
            seen.append(e)
    assert first[-1].reason == "interrupted" and first[-1].step == k
    second = list(resume(tmp_path / "b"))
    assert second[0].resumed_from == k
    assert losses(first) + losses(second) == losses(straight)  # bit for bit
    a, b = params(tmp_path / "a" / "last.pt"), params(tmp_path / "b" / "last.pt")
    assert all(torch.equal(a[n], b[n]) for n in a)


def test_resume_extends_budget_and_refuses_other_changes(tmp_path, corpus_file, tiny_config):
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=10), run_dir=tmp_path / "r"))
    done = list(resume(tmp_path / "r"))
    assert done[-1].reason == "done" and "the budget (10 steps) was already reached at step 10" in done[-1].message
    more = list(resume(tmp_path / "r", overrides={"steps": 15}))
    assert [e.step for e in more if isinstance(e, Step)] == [11, 12, 13, 14, 15]
    with pytest.raises(ResumeMismatchError, match="batch_size"):
        list(resume(tmp_path / "r", overrides={"batch_size": 8}))


def test_resume_refuses_a_changed_corpus(tmp_path, corpus_file, tiny_config):
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=5), run_dir=tmp_path / "r"))
    corpus_file.write_text(corpus_file.read_text().replace("lamp", "lump"))
    with pytest.raises(ResumeMismatchError, match="corpus changed"):
        list(resume(tmp_path / "r", overrides={"steps": 10}))
    corpus_file.write_text(corpus_file.read_text() + "Zebra!\n")
    with pytest.raises(ResumeMismatchError, match="vocabulary lacks"):
        list(resume(tmp_path / "r", overrides={"steps": 10}))


def test_existing_run_is_not_overwritten(tmp_path, corpus_file, tiny_config):
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=2), run_dir=tmp_path / "r"))
    with pytest.raises(ConfigError, match="already holds a run"):
        list(train([corpus_file], TINY_MODEL, tiny_config(steps=2), run_dir=tmp_path / "r"))


def inject_nan_at(monkeypatch, bad_steps):
    real = loop_mod.compute_loss
    calls = {"n": 0}

    def fake(model, x, y, state, precision="fp32", style=None):
        calls["n"] += 1
        loss, st = real(model, x, y, state, precision, style)
        if calls["n"] in bad_steps:
            loss = loss * float("nan")
        return loss, st
    monkeypatch.setattr(loop_mod, "compute_loss", fake)


def test_nan_stops_before_the_update(tmp_path, corpus_file, tiny_config, monkeypatch):
    k = 6
    ref = list(train([corpus_file], TINY_MODEL, tiny_config(steps=k - 1), run_dir=tmp_path / "ref"))
    assert ref[-1].step == k - 1
    inject_nan_at(monkeypatch, {k})
    got = []
    with pytest.raises(NonFiniteError, match=f"step {k}"):
        for e in train([corpus_file], TINY_MODEL, tiny_config(steps=20, eval_every=3), run_dir=tmp_path / "r"):
            got.append(e)
    assert isinstance(got[-1], Stopped) and got[-1].reason == "nonfinite"
    saved = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert saved["step"] == k - 1
    a, b = params(tmp_path / "ref" / "last.pt"), saved["model"]
    assert all(torch.equal(a[n], b[n]) for n in a)  # parameters after step k-1, nothing applied
    best = torch.load(tmp_path / "r" / "best.pt", weights_only=True)["best_val_loss"]
    assert math.isfinite(best)


def test_bad_steps_can_be_skipped(tmp_path, corpus_file, tiny_config, monkeypatch):
    inject_nan_at(monkeypatch, {3, 4})
    ev = list(train([corpus_file], TINY_MODEL, tiny_config(steps=8, max_bad_steps=2), run_dir=tmp_path / "r"))
    assert [e.in_a_row for e in ev if isinstance(e, Skipped)] == [1, 2]
    assert ev[-1].reason == "done" and ev[-1].step == 8


def test_time_budget_stops(tmp_path, corpus_file, tiny_config):
    cfg = tiny_config(steps=None, time=0.5, eval_every=1000)
    ev = list(train([corpus_file], TINY_MODEL, cfg, run_dir=tmp_path / "r"))
    assert ev[-1].reason == "done" and ev[-1].elapsed >= 0.5
    assert ev[-1].elapsed < 5
    # it stops at the first step that spends the budget, not a step later: every step before the last one
    # ended inside the 0.5 s (a bound on wall time is no use here: one step of this tiny model took 0.01 s to
    # 1.3 s on 2 busy cores)
    steps = [e.elapsed for e in ev if isinstance(e, Step)]
    assert all(t < 0.5 for t in steps[:-1]) and steps[-1] >= 0.5 and ev[-1].elapsed == steps[-1], steps


def test_every_schedule_says_what_it_does_in_help():
    from charlstm.config import SCHEDULES
    assert list(schedule.WHAT) == list(SCHEDULES)  # --help is built from these


def test_schedules():
    assert schedule.learning_rate("constant", 1.0, 0.1, 0, 50, 0.5) == 1.0
    assert schedule.learning_rate("constant", 1.0, 0.1, 10, 4, 0.0) == pytest.approx(0.5)  # warm-up 5/10
    assert schedule.learning_rate("cosine", 1.0, 0.1, 0, 0, 0.0) == pytest.approx(1.0)
    assert schedule.learning_rate("cosine", 1.0, 0.1, 0, 0, 0.5) == pytest.approx(0.55)
    assert schedule.learning_rate("cosine", 1.0, 0.1, 0, 0, 1.0) == pytest.approx(0.1)
    assert schedule.learning_rate("wsd", 1.0, 0.1, 0, 0, 0.7) == 1.0
    assert schedule.learning_rate("wsd", 1.0, 0.1, 0, 0, 0.9) == pytest.approx(0.55)
    assert schedule.progress({"steps": 100, "time": 60}, 10, 0.0, 30) == 0.5
    assert schedule.progress({"epochs": 2}, 0, 0.5, 0) == 0.25


@pytest.mark.parametrize("text, cfg_kw, message", [
    ("short text\n", {}, "corpus too short"),
    ("".join(chr(0x4E00 + i) for i in range(50)) * 40, {"max_vocab": 30}, "more than --max-vocab 30"),
])
def test_bad_corpus_writes_nothing(tmp_path, tiny_config, text, cfg_kw, message):
    from charlstm.errors import CorpusError
    p = tmp_path / "c.txt"
    p.write_text(text)
    with pytest.raises(CorpusError, match=message):
        list(train([p], TINY_MODEL, tiny_config(**cfg_kw), run_dir=tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_a_refusal_before_the_first_event_leaves_nothing_behind(tmp_path, corpus_file, tiny_config, monkeypatch):
    # an explicit bf16 on a CPU without bf16 kernels is refused after the corpus was read into the run folder
    def refuse(requested, device, run_pass=None):
        raise ConfigError(f"--precision {requested} does not run on this cpu (no kernel); use fp32 or auto")
    monkeypatch.setattr(plan_mod, "resolve_precision", refuse)
    with pytest.raises(ConfigError, match="does not run on this cpu"):
        next(train([corpus_file], TINY_MODEL, tiny_config(precision="bf16"), run_dir=tmp_path / "run"))
    assert not (tmp_path / "run").exists()
    mine = tmp_path / "mine"  # a folder the user made is left in place, with what was in it
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="does not run on this cpu"):
        list(train([corpus_file], TINY_MODEL, tiny_config(precision="bf16"), run_dir=mine))
    assert (mine / "notes.txt").read_text() == "keep"


def test_the_run_folder_stays_once_the_run_has_started(tmp_path, corpus_file, tiny_config):
    events = train([corpus_file], TINY_MODEL, tiny_config(steps=5), run_dir=tmp_path / "run")
    assert isinstance(next(events), Started)
    events.close()  # the caller walks away after the first event: what was written stays
    assert (tmp_path / "run" / runs.TOKENS).exists()


def test_periodic_saves_by_time(tmp_path, corpus_file, tiny_config):
    cfg = tiny_config(steps=40, save_every=None, save_every_time=1e-9, eval_every=1000)
    ev = list(train([corpus_file], TINY_MODEL, cfg, run_dir=tmp_path / "r"))
    assert len([e for e in ev if isinstance(e, Saved) and e.reason == "periodic"]) == 39  # every step; 40th is final


def test_periodic_saves_by_steps(tmp_path, corpus_file, tiny_config):
    cfg = tiny_config(steps=25, save_every=10, save_every_time=None, eval_every=1000)
    ev = list(train([corpus_file], TINY_MODEL, cfg, run_dir=tmp_path / "r"))
    assert [e.step for e in ev if isinstance(e, Saved) and e.reason == "periodic"] == [10, 20]


def test_resume_falls_back_and_cleans_up(tmp_path, corpus_file, tiny_config):
    run = tmp_path / "r"
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=10), run_dir=run))
    (run / "last.pt").write_bytes(b"torn")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = run / f".last.pt.tmp-{int(dead.stdout)}"  # its writer has exited
    orphan.write_bytes(b"orphan")
    ev = list(resume(run, overrides={"steps": 12}))
    notes = " ".join(ev[0].notes)
    assert "skipped a bad checkpoint" in notes and "resuming from best.pt" in notes
    assert "removed 1 temp file" in notes and not orphan.exists()
    assert ev[-1].reason == "done" and ev[-1].step == 12


def test_nan_validation_never_becomes_best(tmp_path, corpus_file, tiny_config, monkeypatch):
    calls = {"n": 0}
    real = loop_mod.evaluate

    def flaky(*a, **kw):
        calls["n"] += 1
        return float("nan") if calls["n"] == 2 else real(*a, **kw)
    monkeypatch.setattr(loop_mod, "evaluate", flaky)
    ev = list(train([corpus_file], TINY_MODEL, tiny_config(steps=30, eval_every=10), run_dir=tmp_path / "r"))
    evals = [e for e in ev if isinstance(e, Eval)]
    assert math.isnan(evals[1].val_loss) and not evals[1].is_best
    assert math.isfinite(evals[1].best_val_loss)
    assert [e.step for e in ev if isinstance(e, Saved) and e.reason == "best"] == \
        [e.step for e in evals if e.is_best]


def test_budget_text_reads_as_people_write_budgets():
    from charlstm.config import budget_text
    assert budget_text({"steps": 2000}) == "2,000 steps"
    assert budget_text({"time": 600.0}) == "10m00s"
    assert budget_text({"epochs": 1.5, "time": 45.0}) == "1.5 epochs / 45s"


def test_evaluations_say_what_they_scored_and_best_pt_keeps_it(tmp_path, corpus_file, tiny_config):
    run = tmp_path / "r"
    ev = list(train([corpus_file], TINY_MODEL, tiny_config(steps=10, eval_every=5, eval_chars=100), run_dir=run))
    n_val = int(len(corpus_file.read_text()) * 0.1)  # the split's last 10%, ids as characters here
    evals = [e for e in ev if isinstance(e, Eval)]
    assert [(e.scored_chars, e.val_chars) for e in evals] == [(99, n_val - 1)] * 2
    records, _ = runs.read_metrics(run)
    assert {(r["scored_chars"], r["val_chars"]) for r in records if r["kind"] == "eval"} == {(99, n_val - 1)}
    assert torch.load(run / "best.pt", weights_only=True)["val_scored"] == {"chars": 99, "of": n_val - 1}
    whole = list(train([corpus_file], TINY_MODEL, tiny_config(steps=5, eval_every=5, eval_chars=None),
                       run_dir=tmp_path / "w"))
    assert [(e.scored_chars, e.val_chars) for e in whole if isinstance(e, Eval)] == [(n_val - 1, n_val - 1)]
