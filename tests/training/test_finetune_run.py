"""`train(..., init_from=...)`: a run that starts from a trained model (train.py with finetune.py)."""

import math

import pytest
import torch
from conftest import TINY_MODEL

from charlstm.errors import CheckpointError, ConfigError
from charlstm.events import Eval, Started, Step
from charlstm.export import slim
from charlstm.store import checkpoint
from charlstm.tokenizer import CharTokenizer
from charlstm.training.evaluate import evaluate
from charlstm.training.start import resume, train

NEW_TEXT = ("Über den Wolken: the lamp was lit, and ñandú birds ran across the bay.\n"
            "Çà et là, a kettle sang; nobody came to hear it, über alles.\n") * 20


@pytest.fixture
def parent(tmp_path, corpus_file, tiny_config):
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=30), run_dir=tmp_path / "parent"))
    return tmp_path / "parent"


@pytest.fixture
def new_file(tmp_path):
    p = tmp_path / "new.txt"
    p.write_text(NEW_TEXT, encoding="utf-8")
    return p


def fine_tune(parent, new_file, run_dir, tiny_config, **kw):
    cfg = kw.pop("config", tiny_config(steps=12, schedule="cosine"))
    return list(train([new_file], kw.pop("model", {}), cfg, run_dir=run_dir, init_from=parent, **kw))


def test_old_ids_kept_new_characters_appended_and_the_first_eval_is_the_parent_on_the_new_text(
        parent, new_file, tmp_path, tiny_config):
    events = fine_tune(parent, new_file, tmp_path / "ft", tiny_config)
    old_ck = checkpoint.load(parent / "best.pt")
    old = CharTokenizer.from_dict(old_ck["vocab"])
    new = CharTokenizer.from_dict(checkpoint.load(tmp_path / "ft" / "last.pt")["vocab"])
    assert new.chars[:old.vocab_size] == old.chars  # never reordered
    added = new.chars[old.vocab_size:]
    assert set(added) == set(NEW_TEXT) - set(old.chars) and {"Ü", "ñ", "Ç", "à"} <= set(added)
    started = next(e for e in events if isinstance(e, Started))
    assert any(n.startswith("init: ") and "optimizer starts fresh" in n for n in started.notes)
    assert any(f"added {len(added)}:" in n for n in started.notes)
    # zero-shot: an evaluation at step 0, before the first Step, equal to the parent scored on the new
    # validation text (new characters read through their mean rows)
    first_eval = next(i for i, e in enumerate(events) if isinstance(e, Eval))
    first_step = next(i for i, e in enumerate(events) if isinstance(e, Step))
    assert first_eval < first_step and events[first_eval].step == 0
    metrics = [r for r in checkpoint.load(tmp_path / "ft" / "last.pt")["metrics"] if r["kind"] == "eval"]
    assert metrics[0]["step"] == 0 and metrics[0]["val_loss"] == pytest.approx(events[first_eval].val_loss)
    assert metrics[-1]["val_loss"] < metrics[0]["val_loss"]  # and fine-tuning gained on it


def test_zero_shot_loss_is_the_parent_model_with_mean_rows(parent, new_file, tmp_path, tiny_config):
    """Known answer: the step-0 loss equals the grown parent evaluated by hand on the same ids."""
    from charlstm.data.tokenfile import Tokens
    from charlstm.model import CharLSTM
    from charlstm.training import finetune
    events = fine_tune(parent, new_file, tmp_path / "ft", tiny_config)
    zero = next(e for e in events if isinstance(e, Eval)).val_loss
    old_ck = checkpoint.load(parent / "best.pt")
    new_ck = checkpoint.load(tmp_path / "ft" / "last.pt")
    cfg = finetune.grown_config(old_ck, new_ck["model_config"]["vocab_size"], {})
    weights = finetune.grown_weights(old_ck, cfg)
    net = CharLSTM(cfg)
    net.load_state_dict(weights)
    ids = Tokens(path=tmp_path / "ft" / "tokens.bin", dtype=__import__("numpy").uint8)
    n_val = int(len(ids) * new_ck["train_config"]["val_fraction"])
    val = ids.slice(len(ids) - n_val)
    want = evaluate(net.eval(), val, batch_size=new_ck["train_config"]["batch_size"], seq_len=256, max_chars=None)
    assert zero == pytest.approx(want, abs=1e-6)


def test_size_comes_from_the_checkpoint_and_disagreeing_options_are_refused(parent, new_file, tmp_path,
                                                                           tiny_config):
    with pytest.raises(ConfigError, match=r"--hidden 64 disagrees with the model being fine-tuned \(lstm 2x24"):
        fine_tune(parent, new_file, tmp_path / "ft", tiny_config, model={"hidden": 64})
    with pytest.raises(ConfigError, match="--cell gru, --layers 1 disagree"):
        fine_tune(parent, new_file, tmp_path / "ft", tiny_config, model={"cell": "gru", "layers": 1})
    with pytest.raises(ConfigError, match="--preset medium sizes a new model"):
        fine_tune(parent, new_file, tmp_path / "ft", tiny_config, preset="medium")
    assert not (tmp_path / "ft").exists()  # refused before any folder was made
    # agreeing sizes and a new dropout are fine
    events = fine_tune(parent, new_file, tmp_path / "ok", tiny_config, model={"hidden": 24, "dropout": 0.0})
    assert events[0].model_config["hidden"] == 24 and events[0].model_config["dropout"] == 0.0


def test_strict_refuses_and_map_reads_unseen_characters_as_one_known(parent, new_file, tmp_path, tiny_config):
    with pytest.raises(ConfigError, match=r"6 characters the model never saw: .*'Ü'.* --vocab extend adds them"):
        fine_tune(parent, new_file, tmp_path / "s", tiny_config, vocab="strict")
    assert not (tmp_path / "s").exists()
    fine_tune(parent, new_file, tmp_path / "m", tiny_config, vocab="map", map_to=" ")
    old = CharTokenizer.from_dict(checkpoint.load(parent / "best.pt")["vocab"])
    tok = CharTokenizer.from_dict(checkpoint.load(tmp_path / "m" / "last.pt")["vocab"])
    assert tok.chars == old.chars and tok.aliases["ñ"] == " "
    assert tok.encode("ñandú") == tok.encode(" and ")
    assert tok.decode(tok.encode("ñ")) == " "  # read as the known character, never written back out


def test_lineage_is_recorded_and_carried_through_generations_and_slim_exports(parent, new_file, tmp_path,
                                                                              tiny_config):
    fine_tune(parent, new_file, tmp_path / "ft", tiny_config)
    ck = checkpoint.load(tmp_path / "ft" / "last.pt")
    assert len(ck["lineage"]) == 1
    entry = ck["lineage"][0]
    assert entry["run_name"] == "parent" and entry["step"] == 30 and entry["corpus"] == ["verse.txt"]
    assert entry["source"] == str(parent / "best.pt") and math.isfinite(entry["best_val_loss"])
    slim.export_pt(ck, tmp_path / "ft.pt", half=True)
    fine_tune(tmp_path / "ft.pt", new_file, tmp_path / "ft2", tiny_config)
    ck2 = checkpoint.load(tmp_path / "ft2" / "last.pt")
    assert [r["run_name"] for r in ck2["lineage"]] == ["ft", "parent"]
    assert ck2["lineage"][0]["source"] == str(tmp_path / "ft.pt")


def test_a_fine_tuned_run_resumes_exactly(parent, new_file, tmp_path, tiny_config):
    # a constant rate (kept over fine-tuning's cosine), so the 6-step budget later raised to 12 follows
    # the same rates as 12 steps straight
    keep = {"schedule", "warmup"}
    fine_tune(parent, new_file, tmp_path / "straight", tiny_config, config=tiny_config(steps=12), keep=keep)
    fine_tune(parent, new_file, tmp_path / "split", tiny_config, config=tiny_config(steps=6), keep=keep)
    more = list(resume(tmp_path / "split", overrides={"steps": 12}))
    assert not any(isinstance(e, Eval) and e.step == 0 for e in more)  # the zero-shot score is not repeated
    a = checkpoint.load(tmp_path / "straight" / "last.pt")
    b = checkpoint.load(tmp_path / "split" / "last.pt")
    assert b["step"] == 12 and b["lineage"] == a["lineage"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_fine_tuning_defaults_and_what_the_user_gives(parent, new_file, tmp_path, tiny_config):
    from charlstm.config import TrainConfig
    from charlstm.training.sizing import FINE_TUNE
    events = fine_tune(parent, new_file, tmp_path / "d", tiny_config, config=TrainConfig(
        steps=3, eval_every=10, sample_every=0, precision="fp32", eval_chars=None))
    cfg = events[0].train_config
    assert cfg["lr"] == pytest.approx(1e-2 * FINE_TUNE["lr_share"])  # a share of the parent's peak rate
    assert (cfg["schedule"], cfg["warmup"], cfg["batch_size"], cfg["seq_len"]) == (
        FINE_TUNE["schedule"], FINE_TUNE["warmup"], 4, 16)  # the batch shape is the parent's
    # weight drop as sizing decides it: 3 steps read a sliver of the text, too little to memorise it
    assert events[0].model_config["weight_drop"] == 0.0
    assert any("weight drop 0 (" in n and "too few to memorise it" in n for n in events[0].notes)
    many = fine_tune(parent, new_file, tmp_path / "e", tiny_config, config=TrainConfig(
        epochs=10, eval_every=1000, sample_every=0, precision="fp32", eval_chars=None))
    assert many[0].model_config["weight_drop"] == FINE_TUNE["weight_drop"]  # ten passes: on
    kept = fine_tune(parent, new_file, tmp_path / "k", tiny_config, keep={"lr", "schedule"},
                     config=tiny_config(steps=3, lr=5e-3, schedule="constant"))
    assert kept[0].train_config["lr"] == 5e-3 and kept[0].train_config["schedule"] == "constant"
    assert any("your --lr, --schedule kept" in n for n in kept[0].notes)
    from charlstm.training.plan import fine_tune_config
    cfg, note = fine_tune_config(TrainConfig(lr=4e-3), TrainConfig(), set())  # no budget given
    assert cfg.budget == {"time": FINE_TUNE["time"]} and cfg.lr == pytest.approx(4e-3 * FINE_TUNE["lr_share"])
    assert "2m00s" in note and "bench/RESULTS.md" in note
    cfg, _ = fine_tune_config(TrainConfig(), TrainConfig(steps=50), set())
    assert cfg.budget == {"steps": 50}


def test_a_slim_checkpoint_is_read_by_everything_but_resume(parent, tmp_path):
    ck = checkpoint.load(parent / "best.pt")
    full = (parent / "best.pt").stat().st_size
    small = slim.export_pt(ck, tmp_path / "s.pt")
    half = slim.export_pt(ck, tmp_path / "h.pt", half=True)
    assert half < small < full
    s = checkpoint.load(tmp_path / "h.pt")
    assert "optimizer" not in s and s["slim"] == {"half": True, "from_step": 30}
    assert s["corpus"]["paths"] == ["verse.txt"]  # file names only
    model, _ = checkpoint.build_model(s)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with pytest.raises(CheckpointError, match="slim checkpoint .* cannot be resumed; start from it with"):
        list(resume(tmp_path / "h.pt"))



def test_a_fine_tuned_run_records_and_resumes_with_the_parents_normalization(tmp_path, corpus_file, new_file,
                                                                           tiny_config):
    """The text is read the parent's way (here NFKC, not the default NFC), the checkpoint records that
    way, and resume reads the corpus alike: the token cache is reused, nothing is refused."""
    from charlstm.data.textfiles import ReadOptions
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=10), run_dir=tmp_path / "parent",
               read_options=ReadOptions(normalization="NFKC")))
    fine_tune(tmp_path / "parent", new_file, tmp_path / "ft", tiny_config, config=tiny_config(steps=8))
    assert checkpoint.load(tmp_path / "ft" / "last.pt")["corpus"]["options"]["normalization"] == "NFKC"
    tokens = tmp_path / "ft" / "tokens.bin"
    before = tokens.stat().st_mtime_ns
    events = list(resume(tmp_path / "ft", overrides={"steps": 10}))
    assert events[-1].reason == "done" and events[-1].step == 10
    assert tokens.stat().st_mtime_ns == before  # the cache was read, not written again
