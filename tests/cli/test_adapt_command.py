"""`charlstm eval --dynamic` and `charlstm sample --adapt/--save-adapted` through CliRunner, against the
library's own numbers on the same checkpoint: adapt/dynamic.py's losses, generate_text(adapt=...)'s
text, an adapted copy's weights; and the checkpoint file unchanged after each."""

import hashlib
import json

import pytest
import torch
from conftest import VERSE
from typer.testing import CliRunner

from charlstm.cli import app

OTHER = "The boats came home at dusk, and the lamps were lit along the bay.\n" * 20


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    from charlstm.config import TrainConfig
    from charlstm.training.start import train
    d = tmp_path_factory.mktemp("adapt")
    (d / "verse.txt").write_text(VERSE * 12, encoding="utf-8")
    (d / "other.txt").write_text(OTHER, encoding="utf-8")
    cfg = TrainConfig(batch_size=4, seq_len=16, lr=1e-2, warmup=0, steps=20, eval_every=20, log_every=5,
                      eval_chars=None, save_every=None, save_every_time=None, sample_every=0, seed=7,
                      precision="fp32", schedule="constant")
    list(train([d / "verse.txt"], dict(cell="lstm", embed=8, hidden=24, layers=2, dropout=0.0), cfg,
               run_dir=d / "checkpoints" / "run", device="cpu"))
    return d


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def library(home):
    from charlstm.store import checkpoint
    return checkpoint.build_model(checkpoint.load(home / "checkpoints" / "run" / "best.pt"))


def test_eval_dynamic_prints_both_losses_and_json_keeps_the_static_one_under_its_old_name(home):
    from charlstm.adapt.dynamic import dynamic_evaluate
    from charlstm.config import AdaptConfig
    from charlstm.data.textfiles import known_ids
    ckpt = home / "checkpoints" / "run" / "best.pt"
    before = digest(ckpt)
    r = invoke("eval", ckpt, home / "other.txt", "--dynamic", "--json", "--lr", "0.01", "--segment", "20", "--lanes", 1)
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    model, tok = library(home)
    ids, _ = known_ids(OTHER, tok)
    cfg = AdaptConfig(lr=0.01, segment=20, lanes=1)
    assert got["nats_per_char"] == round(dynamic_evaluate(model, ids, cfg.fixed()), 5)
    assert got["dynamic_nats_per_char"] == round(dynamic_evaluate(model, ids, cfg), 5)
    assert got["dynamic_nats_per_char"] < got["nats_per_char"] - 0.1  # a line repeated 20 times gets learned
    assert got["dynamic"] == {"lr": 0.01, "decay": cfg.decay, "segment": 20, "lanes": 1, "eps": cfg.eps}
    assert got["chars"] == len(ids) - 1 and digest(ckpt) == before
    text = invoke("eval", ckpt, home / "other.txt", "--dynamic", "--lr", "0.01", "--segment", "20", "--lanes", 1).stdout
    assert "one lane, in order" in text
    assert f"static   {got['nats_per_char']:.4f} nats/char" in text
    assert f"dynamic  {got['dynamic_nats_per_char']:.4f} nats/char" in text
    off = json.loads(invoke("eval", ckpt, home / "other.txt", "--dynamic", "--json", "--lr", "0").stdout)
    assert off["dynamic_nats_per_char"] == off["nats_per_char"]
    plain = json.loads(invoke("eval", ckpt, home / "other.txt", "--json").stdout)
    assert "dynamic_nats_per_char" not in plain


def test_sample_adapt_continues_the_text_as_the_library_does_and_leaves_the_checkpoint_alone(home):
    from charlstm.config import SampleConfig
    from charlstm.sampling.generate import generate_text
    ckpt = home / "checkpoints" / "run" / "best.pt"
    before = digest(ckpt)
    args = ("sample", "run", "--root", home / "checkpoints", "--adapt", home / "other.txt", "-n", 80, "--seed", 5,
            "--prime", "The ", "--device", "cpu")
    a, b = invoke(*args), invoke(*args)
    assert a.exit_code == 0, a.output
    assert a.stdout == b.stdout and "adapted to" in a.stderr
    model, tok = library(home)
    want = generate_text(model, tok, SampleConfig(length=80, seed=5), "The ", adapt=OTHER)[0]
    assert a.stdout == "The " + want + "\n"
    plain = invoke("sample", "run", "--root", home / "checkpoints", "-n", 80, "--seed", 5, "--prime", "The ")
    assert plain.stdout != a.stdout and digest(ckpt) == before


def test_save_adapted_writes_the_adapted_weights_and_info_names_the_text(home, tmp_path):
    from charlstm.adapt.dynamic import adapted_copy
    from charlstm.config import AdaptConfig
    from charlstm.data.textfiles import known_ids
    from charlstm.store import checkpoint
    out = tmp_path / "letters.pt"
    r = invoke("sample", "run", "--root", home / "checkpoints", "--adapt", home / "other.txt", "--save-adapted", out,
               "-n", 10, "--seed", 1)
    assert r.exit_code == 0, r.output
    assert out.is_file()
    model, tok = library(home)
    twin, _ = adapted_copy(model, known_ids(OTHER, tok)[0], AdaptConfig())
    saved = checkpoint.load(out)
    assert all(torch.equal(saved["model"][k], v) for k, v in twin.state_dict().items())
    assert saved["slim"]["half"] is False
    record = json.loads(invoke("info", out, "--json").stdout)["adapted"]
    assert [(x["files"], x["chars"], x["from"]) for x in record] == [(["other.txt"], len(OTHER), "run/best.pt")]
    shown = invoke("info", out).stdout
    assert "adapted to" in shown and "other.txt" in shown
    again = invoke("sample", out, "-n", 10, "--seed", 1)
    assert again.exit_code == 0, again.output


def test_save_adapted_needs_adapt_and_a_text_the_model_cannot_read_is_one_line(home, tmp_path):
    r = CliRunner().invoke(app, ["sample", "run", "--root", str(home / "checkpoints"), "--save-adapted",
                                 str(tmp_path / "x.pt")])
    assert r.exit_code == 2 and "needs --adapt" in r.output and not (tmp_path / "x.pt").exists()
    alien = tmp_path / "alien.txt"
    alien.write_text("ЖЖЖЖЖЖ", encoding="utf-8")
    r = CliRunner().invoke(app, ["sample", "run", "--root", str(home / "checkpoints"), "--adapt", str(alien)])
    assert r.exit_code == 1 and "fewer than 2 characters the model knows" in r.output
    missing = str(tmp_path / "no.txt")
    r = CliRunner().invoke(app, ["sample", "run", "--root", str(home / "checkpoints"), "--adapt", missing])
    assert r.exit_code == 1 and "--adapt: corpus not found" in r.output
