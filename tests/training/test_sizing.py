"""Sizing from corpus, budget and device; learning-rate cuts on plateaus; early stopping."""

import pytest
from conftest import TINY_MODEL
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.errors import ConfigError
from charlstm.events import Alert, Eval, Started, Step, Stopped
from charlstm.training import sizing
from charlstm.training.start import train


@pytest.mark.parametrize("chars, budget, device, per_s, expected", [
    (1_115_394, 600.0, "cpu", 23_000, "medium"),  # tiny shakespeare, 10 minutes, an AMX CPU in bf16: 13.8M read
    (1_115_394, 600.0, "cpu", 2_800, "small"),    # the same on an AVX2 CPU in fp32: medium would read 1.7M
    (1_115_394, 60.0, "cpu", 23_000, "small"),    # one minute even there: 1.4M
    (4_700_000, 180.0, "cpu", 23_000, "medium"),  # 3 minutes of code: 4.1M
    (1_115_394, None, "cpu", 2_800, "medium"),    # a step budget says nothing about time
    (1_115_394, 600.0, "cpu", None, "medium"),    # nothing to measure with: the budget is not weighed
    (120_000, 600.0, "cpu", 23_000, "small"),     # little text
    (1_115_394, 300.0, "cuda", 2_800, "large"),   # many passes fit: large and heavily regularised
    (120_000, 300.0, "cuda", 2_800, "medium"),
    (5_000_000, 600.0, "mps", 10_000, "medium"),
    (1_115_394, 15.0, "cpu", 2_800, "small"),     # 15 seconds: 42,000 characters, counted, not "0.0M"
])
def test_auto_sizing_rule(chars, budget, device, per_s, expected):
    asked = []
    rate = None if per_s is None else (lambda values: asked.append(values) or per_s)
    s = sizing.choose("auto", chars, budget, device, rate)
    assert s.preset == expected and s.reason.startswith(expected + " (")
    assert s.values == sizing.PRESETS[expected]
    assert asked in ([], [sizing.PRESETS["medium"]])  # only medium's speed is ever asked for
    if asked:
        read = per_s * budget
        assert f"{per_s:,} chars/s measured here" in s.reason
        assert (f"{read / 1e6:.1f}M characters" if read >= 1e5 else f"{read:,.0f} characters") in s.reason


def test_measured_speed_decides_and_the_timed_model_is_not_timed_again(tmp_path, tiny_config, monkeypatch):
    """A run sized by auto with a time budget times medium here and picks small when medium would
    read fewer than MIN_READ characters; when medium is kept, its precision and step time are reused."""
    import charlstm.training.plan as plan_mod
    monkeypatch.setitem(sizing.PRESETS, "medium", {**sizing.PRESETS["medium"], "hidden": 16, "embed": 8,
                                                   "batch_size": 4, "seq_len": 16})
    monkeypatch.setitem(sizing.PRESETS, "small", {**sizing.PRESETS["small"], "hidden": 8, "embed": 4,
                                                  "batch_size": 4, "seq_len": 16})
    monkeypatch.setattr(sizing, "SMALL_CORPUS", 1000)
    corpus = tmp_path / "c.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog.\n" * 200, encoding="utf-8")
    calls = {"time": 0, "resolve": 0}
    real_resolve = plan_mod.resolve_precision

    def resolve(*a, **k):
        calls["resolve"] += 1
        return real_resolve(*a, **k)
    monkeypatch.setattr(plan_mod, "resolve_precision", resolve)
    for step_s, expected in ((1.0, "small"), (1e-6, "medium")):  # 64 chars/s: 0.0M read; 64M chars/s
        calls.update(time=0, resolve=0)

        def timed(*a, s=step_s, **k):
            calls["time"] += 1
            return s
        monkeypatch.setattr(plan_mod, "time_pass", timed)
        cfg = tiny_config(steps=None, time=1.0, eval_every=1000, precision="auto")
        events = train([corpus], {}, cfg, run_dir=tmp_path / expected, preset="auto")
        started = next(events)
        events.close()
        note = next(n for n in started.notes if n.startswith("size: "))
        assert note.startswith(f"size: {expected} (") and "chars/s measured here" in note
        assert ("would read only" in note) == (expected == "small")
        assert started.model_config["hidden"] == sizing.PRESETS[expected]["hidden"]
        # medium is timed once for sizing; small, chosen instead, once more for its weight drop
        assert calls == ({"time": 2, "resolve": 2} if expected == "small" else {"time": 1, "resolve": 1})


def test_halve_batch_known_answers():
    asked = []

    def half_rate(r):
        return lambda: asked.append(r) or r
    few = sizing.MIN_STEPS - 1
    assert not sizing.halve_batch(64, sizing.MIN_STEPS, 1000.0, half_rate(990.0))  # enough steps
    assert asked == []  # ... so the half batch is not timed
    assert sizing.halve_batch(64, few, 1000.0, half_rate(1000.0 * sizing.HALF_BATCH_RATE))
    assert not sizing.halve_batch(64, few, 1000.0, half_rate(1000.0 * sizing.HALF_BATCH_RATE - 1))  # too slow
    assert not sizing.halve_batch(sizing.MIN_BATCH * 2 - 1, few, 1000.0, half_rate(2000.0))  # half below MIN_BATCH
    assert sizing.halve_batch(sizing.MIN_BATCH * 2, few, 1000.0, half_rate(2000.0))
    assert asked == [750.0, 749.0, 2000.0]
    assert sizing.batch_note(64, 389.6, 16, 0.7712) == ("batch 64 would make only ~390 steps in the budget; 16 "
                                                        "trains 77% as many characters a second with 4x the updates")


def _sized_small(monkeypatch, exponent: float):
    """`small` shrunk to a tiny model at batch 64, and a pass whose seconds grow as batch**exponent:
    a half batch trains 0.5**(1 - exponent) of the characters a second of the whole one."""
    import charlstm.training.plan as plan_mod
    monkeypatch.setitem(sizing.PRESETS, "small", {**sizing.PRESETS["small"], "hidden": 8, "embed": 4,
                                                  "batch_size": 64, "seq_len": 16})
    timed = []

    def time_pass(run_pass, precision, device, reps=3):
        timed.append(run_pass.cfg.batch_size)
        return 0.1 * (run_pass.cfg.batch_size / 64) ** exponent
    monkeypatch.setattr(plan_mod, "time_pass", time_pass)
    return timed


@pytest.mark.parametrize("exponent, budget, keep, batches, timed", [
    (0.7, {"time": 1.0}, set(), 16, [64, 32, 16]),      # 10 steps at 64; each half batch trains 81% as fast: 16
    (0.3, {"time": 1.0}, set(), 64, [64, 32]),          # a half batch trains 62% as fast: kept
    (0.7, {"time": 10**6}, set(), 64, [64]),            # enough steps: the half batch is never timed
    (0.7, {"steps": 3}, set(), 64, []),                 # a step budget: nothing to weigh
    (0.7, {"time": 1.0}, {"batch_size"}, 64, [64]),     # the user's batch wins (timed once for the weight drop)
])
def test_few_steps_halve_the_batch_where_it_trains_nearly_as_fast(tmp_path, tiny_config, monkeypatch, exponent,
                                                                   budget, keep, batches, timed):
    seen = _sized_small(monkeypatch, exponent)
    corpus = tmp_path / "c.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog.\n" * 200, encoding="utf-8")
    cfg = tiny_config(**{"steps": None, **budget}, batch_size=64, seq_len=16, eval_every=1000, precision="fp32")
    events = train([corpus], {}, cfg, run_dir=tmp_path / "r", preset="auto", keep=keep)
    started = next(events)
    events.close()
    assert started.train_config["batch_size"] == batches
    assert seen == timed
    note = next(n for n in started.notes if n.startswith("size: "))
    assert ("would make only ~10 steps in the budget; 16 trains 66% as many" in note) == (batches == 16)


def test_every_preset_is_a_valid_model_and_names_every_sized_field():
    from charlstm.config import ModelConfig, TrainConfig
    for name, values in sizing.PRESETS.items():
        s = sizing.choose(name, 10**6, 600.0, "cpu")
        assert set(values) == set(sizing.MODEL_FIELDS) | set(sizing.TRAIN_FIELDS), name
        ModelConfig(vocab_size=65, **s.model())
        TrainConfig(**s.train())
        assert f"weight drop {values['weight_drop']:g}" in sizing.describe(values)
    # the CPU default regularises the recurrent weights (measured: bench/RESULTS.md, weight drop)
    assert sizing.choose("auto", 1_115_394, 600.0, "cpu").model()["weight_drop"] == 0.3


def test_expected_passes_known_answers():
    # 100 steps of 64 x 128 characters over 819,200 training characters: exactly one pass
    assert sizing.expected_passes({"steps": 100}, 64 * 128, 819_200, None) == 1.0
    assert sizing.expected_passes({"epochs": 3}, 8192, 10**6, None) == 3.0
    # 600 s at 0.5 s a step: 1,200 steps of 8,192 characters over 1M characters
    assert sizing.expected_passes({"time": 600.0}, 8192, 10**6, 0.5) == pytest.approx(9.8304)
    # the first limit reached stops the run
    assert sizing.expected_passes({"steps": 100, "time": 600.0}, 8192, 819_200, 0.5) == 1.0
    assert sizing.expected_passes({"time": 600.0}, 8192, 10**6, None) is None


def test_regularisation_from_the_passes_known_answers():
    preset = {"dropout": 0.1, "weight_drop": 0.3}
    few = "too few to memorise it"
    assert sizing.regularisation_for(preset, 5.0) == ({"dropout": 0.1, "weight_drop": 0.0},
                                                      f"~5 passes over the text, {few}")
    assert sizing.regularisation_for(preset, 0.19) == ({"dropout": 0.1, "weight_drop": 0.0},
                                                       f"19% of one pass over the text, {few}")
    assert sizing.regularisation_for(preset, 1.2)[1].startswith("~1 pass over")
    assert sizing.regularisation_for(preset, 20.0) == (preset, "~20 passes over the text")
    assert sizing.regularisation_for(preset, None) == (preset, "")  # unknown: keep the preset's values
    many = sizing.MANY_PASSES
    assert sizing.regularisation_for(preset, many - 1)[0] == preset
    assert sizing.regularisation_for(preset, many) == (
        sizing.STRONG, f"~{many:.0f} passes over the text, enough to memorise it: dropout and weight drop raised")
    # raised to at least STRONG, never lowered
    assert sizing.regularisation_for({"dropout": 0.5, "weight_drop": 0.0}, 100.0)[0] == {"dropout": 0.5,
                                                                                        "weight_drop": 0.5}
    assert sizing.regularisation_for({"dropout": 0.2, "weight_drop": 0.0}, 5.0) == ({"dropout": 0.2,
                                                                                   "weight_drop": 0.0}, "")
    # what the user gave is kept, and the reason speaks only of the rest
    assert sizing.regularisation_for(preset, 5.0, {"weight_drop"}) == (preset, "")
    assert sizing.regularisation_for(preset, 20.0, {"weight_drop"}) == (preset, "")
    assert sizing.regularisation_for(preset, 100.0, {"weight_drop"}) == (
        {"dropout": 0.3, "weight_drop": 0.3}, "~100 passes over the text, enough to memorise it: dropout raised")
    assert sizing.regularisation_for(preset, 100.0, {"dropout"})[0] == {"dropout": 0.1, "weight_drop": 0.5}
    assert sizing.regularisation_for(preset, 100.0, {"dropout", "weight_drop"}) == (preset, "")


@pytest.mark.parametrize("budget, step_s, expected_wd, says", [
    ({"steps": 2}, None, 0.0, "too few to memorise"),       # 2 steps: a tenth of a pass
    ({"time": 2.0}, 1.0, 0.0, "too few to memorise"),       # 2 s at 1 s a step: 2 steps
    ({"steps": 600}, None, 0.3, "passes over the text)"),   # ~14 passes: the preset's 0.3
    ({"time": 0.5}, 1e-4, 0.5, "weight drop raised)"),      # ~5,000 steps: ~100 passes, raised to STRONG
])
def test_sized_runs_choose_weight_drop_from_the_passes(tmp_path, corpus_file, tiny_config, budget, step_s,
                                                       expected_wd, says, monkeypatch):
    import torch

    import charlstm.training.plan as train_mod
    timed = []
    monkeypatch.setattr(train_mod, "time_pass", lambda *a, **k: timed.append(1) or step_s)
    cfg = tiny_config(**{"steps": None, **budget}, eval_every=1000)
    ev = list(train([corpus_file], {"hidden": 12, "embed": 4, "layers": 1}, cfg, run_dir=tmp_path / "r",
                    preset="small", keep={"batch_size", "seq_len"}))
    started = ev[0]
    assert started.model_config["weight_drop"] == expected_wd
    note = next(n for n in started.notes if n.startswith("size: "))
    assert f"weight drop {expected_wd:g} (" in note and "pass" in note and says in note
    assert len(timed) == ("time" in budget)  # a step is timed only for a time budget
    assert torch.load(tmp_path / "r" / "last.pt", weights_only=True)["model_config"]["weight_drop"] == expected_wd


def test_named_preset_and_unknown_preset():
    s = sizing.choose("tiny", 10**9, 10.0, "cuda")
    assert s.preset == "tiny" and s.model()["hidden"] == 128 and s.train()["batch_size"] == 32
    with pytest.raises(ConfigError, match="--preset must be one of"):
        sizing.choose("huge", 10, None, "cpu")


def test_unknown_preset_is_refused_before_the_corpus_is_read(tmp_path, monkeypatch):
    import charlstm.training.setup as setup_mod

    def never(*a, **k):
        raise AssertionError("the corpus was read")
    monkeypatch.setattr(setup_mod, "prepare_corpus", never)
    with pytest.raises(ConfigError, match="--preset must be one of"):
        list(train([tmp_path / "any.txt"], None, None, run_dir=tmp_path / "r", preset="huge"))
    assert not (tmp_path / "r").exists()


def test_cli_shows_the_sizing_and_keeps_what_the_user_set(tmp_path, corpus_file):
    r = CliRunner().invoke(app, ["train", str(corpus_file), "--root", str(tmp_path), "--name", "s", "--steps", "2",
                                 "--hidden", "16", "--embed", "8", "--layers", "1", "-b", "4", "--seq-len", "16",
                                 "--weight-drop", "0.25", "--plain", "--device", "cpu", "--precision", "fp32"],
                        catch_exceptions=False)
    assert r.exit_code == 0, r.output
    note = next(line for line in r.stderr.splitlines() if "size: " in line)
    assert "small (" in note and "1x16" in note and "dropout 0.1" in note and "lr 0.003" in note
    assert "weight drop 0.25" in note
    assert "your --batch-size, --embed, --hidden, --layers, --seq-len, --weight-drop kept" in note
    import torch
    saved = torch.load(tmp_path / "s" / "last.pt", weights_only=True)
    assert saved["model_config"]["hidden"] == 16 and saved["model_config"]["dropout"] == 0.1
    assert saved["model_config"]["weight_drop"] == 0.25
    assert saved["train_config"]["lr"] == 3e-3 and saved["train_config"]["batch_size"] == 4


def test_preset_fills_only_what_is_missing(tmp_path, corpus_file, tiny_config):
    ev = list(train([corpus_file], {"hidden": 20, "embed": 8}, tiny_config(steps=1), run_dir=tmp_path / "r",
                    preset="tiny", keep={"batch_size", "seq_len"}))
    started = ev[0]
    assert isinstance(started, Started)
    assert started.model_config["hidden"] == 20 and started.model_config["layers"] == 1  # tiny: 1 layer
    assert started.train_config["batch_size"] == 4 and started.train_config["lr"] == 3e-3


def fake_val(monkeypatch, values):
    import charlstm.training.loop as loop_mod
    seq = iter(values)
    monkeypatch.setattr(loop_mod, "evaluate", lambda *a, **k: next(seq))


def test_plateau_cuts_the_rate_and_patience_stops_early(tmp_path, corpus_file, tiny_config, monkeypatch):
    fake_val(monkeypatch, [3.0, 2.5, 2.6, 2.7, 2.8, 2.4, 2.9, 3.0, 3.1, 3.2] + [9.0] * 20)
    cfg = tiny_config(steps=200, eval_every=2, plateau=2, patience=4, lr=1e-2)
    ev = list(train([corpus_file], TINY_MODEL, cfg, run_dir=tmp_path / "r"))
    evals = [e for e in ev if isinstance(e, Eval)]
    alerts = [e for e in ev if isinstance(e, Alert) and e.kind == "plateau"]
    # evaluations at steps 2,4,...: no better loss at steps 6 and 8 (cut), 10 (no cut), new best at 12,
    # then none at 14, 16 (cut), 18, 20 -> 4 in a row: stop
    assert [e.step for e in alerts] == [8, 16]
    lr = {e.step: e.lr for e in ev if isinstance(e, Step)}
    assert lr[8] == pytest.approx(1e-2) and lr[9] == pytest.approx(3e-3) and lr[17] == pytest.approx(9e-4)
    stop = ev[-1]
    assert isinstance(stop, Stopped) and stop.reason == "early-stop" and stop.step == 20
    assert stop.best_val_loss == 2.4 and "--patience 0" in stop.message
    assert [e.step for e in evals][-1] == 20


def test_plateau_state_survives_resume(tmp_path, corpus_file, tiny_config, monkeypatch):
    import torch

    from charlstm.training.start import resume
    fake_val(monkeypatch, [3.0, 3.1, 3.2] + [2.0] * 20)
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=6, eval_every=2, plateau=2, patience=0),
               run_dir=tmp_path / "r"))
    saved = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert saved["plateau"] == {"lr_scale": pytest.approx(0.3), "evals_since_best": 2}
    ev = list(resume(tmp_path / "r", overrides={"steps": 7}))
    assert [e.lr for e in ev if isinstance(e, Step)] == [pytest.approx(3e-3)]
