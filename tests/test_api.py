"""fit() and load(), the notebook interface: a summary back, Ctrl-C saves and returns, and the notes,
previews, warnings and skipped steps the command line shows."""

import math
import signal
import threading

import pytest
import torch

import charlstm
from charlstm.api import fit, load
from charlstm.training import loop as loop_mod

TINY = dict(hidden=16, embed=8, layers=1, dropout=0.0, weight_drop=0.0, batch_size=4, seq_len=16, lr=1e-2,
            eval_every=5, eval_chars=None, log_every=1, sample_every=0, save_every=None, save_every_time=None,
            precision="fp32", device="cpu")


def interrupt_at(monkeypatch, call: int, times: int = 1) -> None:
    """Send this process SIGINT `times` times from inside the `call`-th forward pass, as Ctrl-C would."""
    real, calls = loop_mod.compute_loss, [0]

    def forward(*a, **kw):
        calls[0] += 1
        if calls[0] == call:
            for _ in range(times):
                signal.raise_signal(signal.SIGINT)
        return real(*a, **kw)
    monkeypatch.setattr(loop_mod, "compute_loss", forward)


def test_fit_returns_a_summary_and_reports_what_the_cli_reports(tmp_path, corpus_file, capsys, monkeypatch):
    real, calls = loop_mod.compute_loss, [0]

    def nan_at_three(*a, **kw):
        calls[0] += 1
        loss, state = real(*a, **kw)
        return (loss * float("nan") if calls[0] == 3 else loss), state
    monkeypatch.setattr(loop_mod, "compute_loss", nan_at_three)
    vals = iter([3.0, 3.5])
    monkeypatch.setattr(loop_mod, "evaluate", lambda *a, **k: next(vals))
    summary = fit(corpus_file, steps=10, root=tmp_path, name="r",
                  **{**TINY, "sample_every": 1, "sample_length": 20, "max_bad_steps": 1, "plateau": 1})
    assert summary == {"run_dir": str(tmp_path / "r"), "best_val_loss": 3.0, "steps": 10,
                       "train_time": summary["train_time"], "reason": "done"}
    assert math.isfinite(summary["train_time"]) and summary["train_time"] > 0
    out = capsys.readouterr().out
    assert "note: size: " in out and "note: precision: fp32 (as asked)" in out
    assert "skipped step 3: non-finite loss nan" in out and "(1 in a row)" in out
    assert "sample at step 5:" in out and "sample at step 10:" in out
    assert "step 10: val 3.5000 nats/char (best 3.0000)" in out
    assert "warning (step 10): no better validation loss in 1 evaluations: learning rate cut" in out
    model, tok = load(summary["run_dir"])
    assert model.config.hidden == 16 and tok.vocab_size > 2


def test_fit_without_progress_prints_nothing(tmp_path, corpus_file, capsys):
    summary = fit(corpus_file, steps=3, root=tmp_path, name="q", progress=False, **TINY)
    assert summary["reason"] == "done" and summary["steps"] == 3
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_an_interrupt_saves_last_pt_and_returns(tmp_path, corpus_file, monkeypatch, capsys):
    before = signal.getsignal(signal.SIGINT)
    interrupt_at(monkeypatch, 4)
    summary = fit(corpus_file, steps=1000, root=tmp_path, name="r", **TINY)
    assert summary["reason"] == "interrupted" and summary["steps"] == 4
    assert summary["run_dir"] == str(tmp_path / "r")
    assert signal.getsignal(signal.SIGINT) is before  # the notebook's own handler is back
    assert "stopped at step 4; saved in" in capsys.readouterr().out
    saved = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert saved["step"] == 4
    model, _ = load(summary["run_dir"], prefer_best=False)
    assert model.config.hidden == 16


def test_a_second_interrupt_raises_keyboard_interrupt(tmp_path, corpus_file, monkeypatch):
    before = signal.getsignal(signal.SIGINT)
    interrupt_at(monkeypatch, 3, times=2)
    with pytest.raises(KeyboardInterrupt):
        fit(corpus_file, steps=1000, root=tmp_path, name="r", progress=False, **TINY)
    assert signal.getsignal(signal.SIGINT) is before


def test_fit_in_a_worker_thread_leaves_signals_alone(tmp_path, corpus_file):
    before = signal.getsignal(signal.SIGINT)
    got = {}
    worker = threading.Thread(target=lambda: got.update(fit(corpus_file, steps=2, root=tmp_path, name="t",
                                                            progress=False, **TINY)))
    worker.start()
    worker.join(120)
    assert got["reason"] == "done" and got["steps"] == 2
    assert signal.getsignal(signal.SIGINT) is before


def test_dir_lists_the_public_api():
    names = dir(charlstm)
    assert set(charlstm.__all__) <= set(names)
    assert {"fit", "train", "resume", "load", "generate_text", "TrainConfig", "__version__", "__doc__"} <= set(names)
    assert not [n for n in names if n.startswith("_") and not n.startswith("__")]  # no _LAZY
    assert names == sorted(names)


def test_train_takes_its_options_typed_or_as_keywords_and_refuses_others(tmp_path, corpus_file, tiny_config):
    from charlstm import TrainOptions, train
    typed = list(train([corpus_file], None, tiny_config(steps=2), run_dir=tmp_path / "a", device="cpu",
                       options=TrainOptions(preset="tiny")))
    keyworded = list(train([corpus_file], None, tiny_config(steps=2), run_dir=tmp_path / "b", device="cpu",
                           preset="tiny"))
    assert typed[0].model_config == keyworded[0].model_config and typed[0].model_config["hidden"] == 128
    with pytest.raises(TypeError, match="prest"):
        train([corpus_file], None, tiny_config(steps=2), run_dir=tmp_path / "c", prest="tiny")
