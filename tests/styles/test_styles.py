"""Styles: reading --style, folding a blend into the weights, labelling a corpus by style, the styled
token run, and a styled model trained, sampled, scored, resumed and fine-tuned with a new style."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from charlstm.config import ModelConfig
from charlstm.data.labels import StyledTokens, label_files
from charlstm.data.tokenfile import Tokens
from charlstm.errors import ConfigError, CorpusError
from charlstm.model import CharLSTM, in_style
from charlstm.styles.blend import choose, describe, fold, parse_blend

NAMES = ("verse", "code", "letters")


# ---- --style ---------------------------------------------------------------------------------------
def test_a_style_a_blend_and_scaling():
    assert parse_blend("code", NAMES) == [0.0, 1.0, 0.0]
    assert parse_blend("verse:0.7,code:0.3", NAMES) == pytest.approx([0.7, 0.3, 0.0])
    assert parse_blend("verse:3, letters:1", NAMES) == pytest.approx([0.75, 0.0, 0.25])
    assert choose(None, NAMES) == pytest.approx([1 / 3] * 3)
    assert describe(NAMES, [0.7, 0.3, 0.0]) == "verse 70% + code 30%"
    assert describe(NAMES, [0.0, 1.0, 0.0]) == "code"


@pytest.mark.parametrize("spec, message", [
    ("prose", "unknown style 'prose'; this model knows: verse, code, letters"),
    ("verse:x", "must be a number"),
    ("verse:-1,code:2", "not negative"),
    ("verse:0", "add up to 0"),
    ("code,code", "named twice"),
])
def test_bad_styles_are_one_line_naming_the_known_ones(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_blend(spec, NAMES)


def test_a_model_without_styles_refuses_a_style():
    with pytest.raises(ConfigError, match="has no styles"):
        parse_blend("verse", ())
    plain = CharLSTM(ModelConfig(vocab_size=7, embed=4, hidden=6, layers=1))
    assert in_style(plain) is plain
    with pytest.raises(ConfigError, match="has no styles"):
        in_style(plain, "verse")


# ---- folding a blend into the weights ----------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_the_folded_model_computes_what_the_styled_one_does(cell):
    """Known answer: the styled network fed [embedding; blended style vector] at every step, against an
    ordinary network whose first-layer bias holds the style's term."""
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=11, cell=cell, embed=5, hidden=7, layers=2, styles=NAMES,
                                 style_embed=3)).eval()
    ids = torch.randint(11, (2, 9))
    blend = [0.2, 0.0, 0.8]
    with torch.no_grad():
        want, _ = model(ids, None, torch.tensor(blend))
        folded, config = fold(model.state_dict(), model.config, blend)
        plain = CharLSTM(config).eval()
        plain.load_state_dict(folded)
        got, _ = plain(ids)
        by_name, _ = in_style(model, "verse:0.2,letters:0.8")(ids)
    assert config.styles == () and "style.weight" not in folded
    assert torch.allclose(got, want, atol=1e-5) and torch.allclose(by_name, want, atol=1e-5)
    # numpy arrays fold to the same numbers (the numpy engine's path, without torch)
    arrays, _ = fold({k: v.numpy() for k, v in model.state_dict().items()}, model.config, blend)
    assert np.allclose(arrays["rnn.bias_ih_l0"], folded["rnn.bias_ih_l0"].numpy(), atol=1e-6)


def test_per_character_style_ids_are_one_hot_blends():
    torch.manual_seed(1)
    model = CharLSTM(ModelConfig(vocab_size=9, embed=4, hidden=6, layers=1, styles=NAMES[:2])).eval()
    ids = torch.randint(9, (1, 6))
    with torch.no_grad():
        by_id, _ = model(ids, None, torch.ones(1, 6, dtype=torch.long))
        by_weights, _ = model(ids, None, torch.tensor([0.0, 1.0]))
        even, _ = model(ids, None, None)
        half, _ = model(ids, None, torch.tensor([0.5, 0.5]))
    assert torch.allclose(by_id, by_weights, atol=1e-6) and torch.allclose(even, half, atol=1e-6)


# ---- labelling a corpus ----------------------------------------------------------------------------
def _tree(tmp_path):
    for rel, text in {"verse/a.txt": "aaa\n", "verse/deep/b.txt": "bbb\n", "code/c.py": "ccc\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return sorted(p for p in tmp_path.rglob("*") if p.is_file())


def test_folder_file_and_mapping_labels(tmp_path):
    files = _tree(tmp_path / "c")
    assert label_files([tmp_path / "c"], files, "folder") == ["code", "verse", "verse"]
    assert label_files([tmp_path / "c"], files, "file") == ["c", "a", "b"]
    mapping = tmp_path / "styles.txt"
    mapping.write_text("# which is which\nsongs: verse/deep/*\nrest: *\n")
    assert label_files([tmp_path / "c"], files, str(mapping)) == ["rest", "rest", "songs"]


def test_labelling_refusals(tmp_path):
    files = _tree(tmp_path / "c")
    (tmp_path / "c" / "top.txt").write_text("x\n")
    with pytest.raises(CorpusError, match="top.txt is not inside a sub-folder"):
        label_files([tmp_path / "c"], [*files, tmp_path / "c" / "top.txt"], "folder")
    mapping = tmp_path / "m.txt"
    mapping.write_text("songs: verse/*\n")
    with pytest.raises(CorpusError, match="1 file\\(s\\) match no line, e.g. code/c.py"):
        label_files([tmp_path / "c"], files, str(mapping))
    with pytest.raises(CorpusError, match="folder, file or a mapping file"):
        label_files([tmp_path / "c"], files, "folders")


# ---- the styled token run --------------------------------------------------------------------------
def test_styled_tokens_read_split_and_rename():
    ids = Tokens(np.arange(100, dtype=np.uint16))
    # three files: 30 ids of b, 50 of a, 20 of b -> laid out b's files first (first seen), then a's
    run = StyledTokens.build(ids, [30, 50, 20], ["b", "a", "b"])
    assert run.names == ("b", "a") and len(run) == 100 and run.chars() == [50, 50]
    want = np.concatenate([np.arange(30), np.arange(80, 100), np.arange(30, 80)])
    assert (run.read() == want).all()
    assert (run.read(25, 10) == want[25:35]).all()  # a span across a file boundary
    assert (run.read_styles(45, 10) == [0] * 5 + [1] * 5).all()
    train, val = run.split(0.2)  # each style's own last 20%
    assert (val.read() == np.concatenate([np.arange(90, 100), np.arange(70, 80)])).all()
    assert (train.read() == np.concatenate([np.arange(30), np.arange(80, 90), np.arange(30, 70)])).all()
    assert val.chars() == [10, 10] and (val.style(1).read() == np.arange(70, 80)).all()
    renamed = run.renamed(("x", "a", "b"))
    assert renamed.chars() == [0, 50, 50] and (renamed.read_styles(0, 3) == 2).all()
    assert run.checksum() == StyledTokens.build(ids, [30, 50, 20], ["b", "a", "b"]).checksum()


def test_an_unstyled_model_given_styles_starts_computing_exactly_what_it_did():
    """Known answer: the new first-layer columns are zero, so whatever the style vectors hold, the grown
    model's logits equal the parent's in every style."""
    from charlstm.training import finetune
    torch.manual_seed(2)
    parent = CharLSTM(ModelConfig(vocab_size=9, embed=4, hidden=6, layers=2)).eval()
    saved = {"model_config": parent.config.to_dict(), "model": parent.state_dict()}
    cfg = finetune.grown_config(saved, 9, {}, ("a", "b"))
    child = CharLSTM(cfg).eval()
    child.load_state_dict(finetune.grown_weights(saved, cfg))
    ids = torch.randint(9, (2, 7))
    with torch.no_grad():
        want, _ = parent(ids)
        for blend in ([1.0, 0.0], [0.0, 1.0], [0.5, 0.5]):
            got, _ = child(ids, None, torch.tensor(blend))
            assert torch.allclose(got, want, atol=1e-6)
    assert child.style.weight.abs().sum() > 0  # the vectors themselves are not zero: training can move them


def test_fine_tuning_a_styled_model_keeps_its_style_size_and_adds_new_styles_after_its_own():
    from charlstm.training import finetune
    parent = CharLSTM(ModelConfig(vocab_size=9, embed=4, hidden=6, layers=1, styles=("a", "b"), style_embed=5))
    saved = {"model_config": parent.config.to_dict(), "model": parent.state_dict()}
    assert finetune.grown_config(saved, 9, {}, ("b", "c")).styles == ("a", "b", "c")
    assert finetune.grown_config(saved, 9, {"style_embed": 5}, ()).styles == ("a", "b")
    with pytest.raises(ConfigError, match="--style-embed 8 disagrees"):
        finetune.grown_config(saved, 9, {"style_embed": 8}, ())


def test_a_styled_forward_runs_under_bf16_autocast(monkeypatch):
    """Training (ids), a blend and sizing's timed pass (no style) under CPU bf16 autocast, as bf16 runs
    train. (fp16 autocast is the GPU's: oneDNN has no fp16 LSTM on the CPU, styled or not.) On a CPU
    without oneDNN's bf16 LSTM (AVX2 only) the recurrent layer runs in torch's own bf16 kernels
    (half_kernels.py): the styled input's dtype, which is what this test is about, is the model's."""
    from half_kernels import half_recurrent
    half_recurrent(monkeypatch, "bf16")
    dtype = torch.bfloat16
    torch.manual_seed(3)
    model = CharLSTM(ModelConfig(vocab_size=9, embed=4, hidden=6, layers=1, styles=("a", "b")))
    ids = torch.randint(9, (2, 5))
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):
        for style in (None, torch.tensor([0.3, 0.7]), torch.ones(2, 5, dtype=torch.long)):
            out, _ = model(ids, None, style)
            assert out.dtype == dtype and out.shape == (2, 5, 9)
            assert torch.isfinite(out.float()).all()
    # no numbers compared here: torch's CPU LSTM under autocast in no-grad mode gives different numbers on
    # repeated identical calls (styles or not); the styled arithmetic is checked in fp32 above
