"""The plateau rule cannot drive the learning rate to nothing: each evaluation without a new best (every
`plateau` of them) cuts the rate 0.3x, down to a floor (--min-lr, and never below 1% of the schedule's
rate) and no further. Known answers for a scripted run of validation losses, and a time-budget run
whose validation never improves keeps the floor to the end."""

from __future__ import annotations

import itertools

import pytest
from conftest import TINY_MODEL

from charlstm.events import Alert, Step
from charlstm.training import loop, schedule
from charlstm.training.start import resume, train


def test_the_floor_and_the_cuts_as_pure_rules():
    assert schedule.plateau_floor(1e-2, 1e-3) == pytest.approx(0.1)
    assert schedule.plateau_floor(1e-2, 0.0) == schedule.MIN_SCALE == 0.01  # --min-lr 0 still has a floor
    assert schedule.plateau_cut(1.0, 0.1) == pytest.approx(0.3)
    assert schedule.plateau_cut(0.3, 0.1) == pytest.approx(0.1)  # 0.09 would pass the floor: it stops there
    assert schedule.plateau_cut(0.1, 0.1) is None  # at the floor: nothing more is cut
    assert schedule.effective_rate(1e-2, 1e-16, 1e-3) == 1e-3  # a collapsed scale is held at --min-lr
    assert schedule.effective_rate(2e-4, 0.1, 1e-3) == 2e-4  # during warm-up the schedule's own rate rules


def scripted(monkeypatch, losses):
    """Validation (run as usual, so the run records what it scored) reports `losses` in turn, then the
    last one again."""
    seq, real = itertools.chain(losses, itertools.repeat(losses[-1])), loop._validate
    monkeypatch.setattr(loop, "_validate", lambda run: (real(run)[0] * 0 + next(seq), 0.0))


def test_a_scripted_run_of_validation_losses_gives_exactly_these_rates(tmp_path, corpus_file, tiny_config,
                                                                      monkeypatch):
    # evaluated after every step; the rate of step k+1's update follows the evaluation at step k
    scripted(monkeypatch, [3.0, 3.1, 3.2, 3.3, 2.9, 3.0, 3.05, 2.5])
    cfg = tiny_config(steps=9, eval_every=1, lr=1e-2, min_lr=1e-3, plateau=1, patience=0, schedule="constant")
    events = list(train([corpus_file], TINY_MODEL, cfg, run_dir=tmp_path / "r", device="cpu"))
    rates = [e.lr for e in events if isinstance(e, Step)]
    # best 3.0; 3.1 cuts to 0.3; 3.2 to 0.1 (0.09 is below the floor 1e-3/1e-2); 3.3 is at the floor (no
    # cut); 2.9 a new best (the scale stays); 3.0 and 3.05 at the floor; 2.5 a new best
    assert rates == pytest.approx([1e-2, 1e-2, 3e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3], rel=1e-9)
    cuts = [e.message for e in events if isinstance(e, Alert) and e.kind == "plateau"]
    assert len(cuts) == 2 and "cut to 0.3x" in cuts[0] and "cut to 0.1x (its floor: no further cuts)" in cuts[1]


def test_plateau_every_second_evaluation_and_a_resumed_collapsed_run(tmp_path, corpus_file, tiny_config,
                                                                     monkeypatch):
    scripted(monkeypatch, [3.0, 3.1, 3.2, 3.3, 3.4])
    cfg = tiny_config(steps=5, eval_every=1, lr=1e-2, min_lr=0.0, plateau=2, patience=0, schedule="constant")
    events = list(train([corpus_file], TINY_MODEL, cfg, run_dir=tmp_path / "r", device="cpu"))
    assert [e.lr for e in events if isinstance(e, Step)] == pytest.approx([1e-2, 1e-2, 1e-2, 3e-3, 3e-3])
    # a checkpoint saved before the floor existed, its scale compounded to nearly nothing, goes on from the floor
    from charlstm.store import checkpoint
    saved = checkpoint.load(tmp_path / "r" / "last.pt")
    saved["plateau"]["lr_scale"] = 1e-16
    checkpoint.save(saved, tmp_path / "r" / "last.pt")
    (tmp_path / "r" / "best.pt").unlink()
    later = list(resume(tmp_path / "r", overrides={"steps": 7}, device="cpu"))
    assert [e.lr for e in later if isinstance(e, Step)] == pytest.approx([1e-4, 1e-4])  # 1% of 1e-2


def test_with_a_time_budget_the_rate_in_the_last_40_percent_never_falls_below_the_floor(tmp_path, corpus_file,
                                                                                      tiny_config, monkeypatch):
    """The GPU preset's case: validation never improves after the first evaluation and --plateau 1 cuts at
    every one; the wsd schedule decays to --min-lr at the end. Before the floor the cuts compounded to
    ~1e-16 by 40% of the budget."""
    scripted(monkeypatch, [3.0] + [3.5] * 10_000)
    cfg = tiny_config(steps=None, time=4.0, eval_every=2, lr=1e-2, min_lr=2e-4, plateau=1, patience=0,
                      schedule="wsd", warmup=0)
    events = list(train([corpus_file], TINY_MODEL, cfg, run_dir=tmp_path / "t", device="cpu"))
    late = [e.lr for e in events if isinstance(e, Step) and e.progress >= 0.6]
    assert len(late) >= 5, "too few steps in the last 40% to say anything"
    assert min(late) >= 2e-4 * (1 - 1e-9)
    cuts = [e for e in events if isinstance(e, Alert) and e.kind == "plateau"]
    assert 1 <= len(cuts) <= 4  # 0.3, 0.09, 0.027 and the floor 0.02: the cuts stop
