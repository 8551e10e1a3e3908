"""finetune.py: the vocabulary grows without reordering, and the grown model predicts the old
characters exactly as before (known answers)."""

import copy

import pytest
import torch

from charlstm.config import ModelConfig
from charlstm.errors import ConfigError
from charlstm.model import CharLSTM
from charlstm.tokenizer import CharTokenizer
from charlstm.training.finetune import count_chars, extend_weights, extended_config, plan_vocab

OLD = CharTokenizer("abc \n", "NFKC")  # ids: '\n' 0, ' ' 1, 'a' 2, 'b' 3, 'c' 4


# ---- the vocabulary plan ----

def test_old_ids_kept_and_new_characters_appended_by_count_then_codepoint():
    counts = {"a": 10, "z": 3, "é": 5, "b": 2, "y": 3, "!": 1}
    plan = plan_vocab(OLD, counts)
    # é (5) first; z and y tie at 3, so codepoint decides: y (U+0079) before z (U+007A); ! (1) last
    assert plan.added == ["é", "y", "z", "!"]
    assert plan.tokenizer.chars == ["\n", " ", "a", "b", "c", "é", "y", "z", "!"]
    assert all(plan.tokenizer.stoi[c] == i for c, i in OLD.stoi.items())
    assert plan.tokenizer.encode("ab!é") == [2, 3, 8, 5]
    assert plan.tokenizer.decode([8, 5, 4]) == "!éc"
    assert plan.tokenizer.normalization == "NFKC"
    assert (plan.old_vocab, plan.new_vocab) == (5, 9)
    assert OLD.chars == ["\n", " ", "a", "b", "c"]  # the old tokenizer is left alone


def test_coverage_is_weighted_by_counts():
    counts = {"a": 10, "b": 2, "z": 3, "é": 5, "q": 0}  # q is counted 0: not in the text at all
    plan = plan_vocab(OLD, counts)
    assert plan.coverage == pytest.approx(12 / 20)
    assert "q" not in plan.added


def test_extending_twice_keeps_the_first_extension_order():
    first = plan_vocab(OLD, {"z": 1, "y": 1}).tokenizer  # y, z appended in codepoint order
    second = plan_vocab(first, {"x": 4, "a": 1})
    assert second.tokenizer.chars == ["\n", " ", "a", "b", "c", "y", "z", "x"]


def test_extend_with_nothing_new_returns_the_same_tokenizer():
    plan = plan_vocab(OLD, {"a": 3, " ": 1})
    assert plan.tokenizer is OLD and plan.added == [] and plan.mapping == {} and plan.coverage == 1.0


def test_strict_refuses_naming_the_unseen_characters_most_frequent_first():
    with pytest.raises(ConfigError) as e:
        plan_vocab(OLD, {"a": 5, "é": 2, "\t": 3}, mode="strict")
    msg = str(e.value)
    assert "2 characters the model never saw" in msg
    assert msg.index("U+0009 TAB") < msg.index("'é' (U+00E9 LATIN SMALL LETTER E WITH ACUTE)")
    assert "50.0% of it is known" in msg
    assert plan_vocab(OLD, {"a": 5}, mode="strict").tokenizer is OLD


def test_strict_names_at_most_ten():
    counts = {chr(0x3B1 + i): 20 - i for i in range(12)}  # 12 Greek letters, α most frequent
    with pytest.raises(ConfigError, match=r"12 characters .* and 2 more") as e:
        plan_vocab(OLD, counts, mode="strict")
    assert "U+03B1" in str(e.value) and "U+03BB" not in str(e.value)  # λ is 11th: not named


def test_map_sends_every_unseen_character_to_map_to():
    plan = plan_vocab(OLD, {"a": 1, "é": 1, "z": 2}, mode="map", map_to=" ")
    assert plan.tokenizer.chars == OLD.chars and plan.added == []
    assert plan.mapping == {"é": " ", "z": " "}
    # the mapped characters are read as the replacement, and are never written back out
    assert plan.tokenizer.encode("aéz") == [OLD.stoi["a"], OLD.stoi[" "], OLD.stoi[" "]]
    assert plan.tokenizer.decode(plan.tokenizer.encode("aé")) == "a "
    assert CharTokenizer.from_dict(plan.tokenizer.to_dict()) == plan.tokenizer
    assert plan.coverage == pytest.approx(1 / 4)


@pytest.mark.parametrize("map_to", [None, "z", "ab"])
def test_map_refuses_a_missing_or_unknown_map_to(map_to):
    with pytest.raises(ConfigError, match="replacement character from the model's vocabulary"):
        plan_vocab(OLD, {"a": 1, "é": 1}, mode="map", map_to=map_to)


@pytest.mark.parametrize("kw, match", [
    ({"mode": "grow"}, "mode must be one of"),
    ({"map_to": "a"}, "only used by mode 'map'"),
])
def test_bad_mode_or_stray_map_to_refused(kw, match):
    with pytest.raises(ConfigError, match=match):
        plan_vocab(OLD, {"a": 1}, **kw)


@pytest.mark.parametrize("counts, match", [
    ({}, "no characters"), ({"a": 0}, "no characters"), ({"ab": 1}, "single characters"),
    ({"a": -1}, "whole number"), ({"a": 1.5}, "whole number"),
])
def test_bad_counts_refused(counts, match):
    with pytest.raises(ConfigError, match=match):
        plan_vocab(OLD, counts)


def test_count_chars_normalizes_like_the_tokenizer():
    assert count_chars("e\u0301e\u0301x", "NFC") == {"é": 2, "x": 1}
    assert count_chars("e\u0301", "none") == {"e": 1, "\u0301": 1}


# ---- the weights ----

def small(cell: str, vocab: int = 7) -> CharLSTM:
    torch.manual_seed(1234)
    return CharLSTM(ModelConfig(vocab_size=vocab, cell=cell, embed=5, hidden=8, layers=2, dropout=0.0)).eval()


def test_new_rows_are_the_means_and_old_rows_are_bitwise_unchanged():
    sd = small("lstm").state_dict()
    before = copy.deepcopy(sd)
    out = extend_weights(sd, 7, 10)
    for k in ("embed.weight", "head.weight", "head.bias"):
        assert out[k].shape[0] == 10
        assert torch.equal(out[k][:7], sd[k])
        torch.testing.assert_close(out[k][7:], sd[k].mean(0, keepdim=True).expand(3, *sd[k].shape[1:]))
    for k in sd.keys() - {"embed.weight", "head.weight", "head.bias"}:
        assert torch.equal(out[k], sd[k])
    assert out is not sd and sd.keys() == before.keys()
    assert all(torch.equal(sd[k], before[k]) and sd[k].shape == before[k].shape for k in sd)


def test_same_size_is_a_copy_of_the_dict_and_shrinking_or_mismatch_refused():
    sd = small("gru").state_dict()
    out = extend_weights(sd, 7, 7)
    assert out is not sd and all(out[k] is sd[k] for k in sd)
    with pytest.raises(ValueError, match="only grows"):
        extend_weights(sd, 7, 6)
    with pytest.raises(ValueError, match="does not have 8 characters"):
        extend_weights(sd, 8, 10)
    with pytest.raises(ValueError, match="head.bias missing"):
        extend_weights({k: v for k, v in sd.items() if k != "head.bias"}, 7, 10)


def test_extended_config_changes_only_the_vocabulary():
    cfg = ModelConfig(vocab_size=7, cell="gru", embed=5, hidden=8, layers=2, dropout=0.1, weight_drop=0.2)
    new = extended_config(cfg, 10)
    assert new == ModelConfig(vocab_size=10, cell="gru", embed=5, hidden=8, layers=2, dropout=0.1, weight_drop=0.2)
    with pytest.raises(ValueError):
        extended_config(cfg, 6)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_grown_model_predicts_the_old_characters_exactly_as_before(cell):
    """The key known answer: fed old ids, the grown model's distribution restricted to the old
    characters (renormalised) is the old model's, and all new characters get one logit, the mean
    of the old logits."""
    old = small(cell)
    idx = torch.tensor([[0, 3, 6, 1, 2, 2, 5, 4, 0, 6], [6, 5, 4, 3, 2, 1, 0, 1, 2, 3]])
    with torch.no_grad():
        old_logits, _ = old(idx)
        new = CharLSTM(extended_config(old.config, 10)).eval()
        new.load_state_dict(extend_weights(old.state_dict(), 7, 10))
        new_logits, _ = new(idx)
    assert new_logits.shape == (2, 10, 10)
    p_old = old_logits.softmax(-1)
    p_new = new_logits.softmax(-1)[..., :7]
    torch.testing.assert_close(p_new / p_new.sum(-1, keepdim=True), p_old, atol=1e-6, rtol=0)
    new_chars = new_logits[..., 7:]
    torch.testing.assert_close(new_chars, new_chars[..., :1].expand_as(new_chars), atol=1e-6, rtol=0)
    torch.testing.assert_close(new_chars[..., 0], old_logits.mean(-1), atol=1e-5, rtol=1e-5)
    # Jensen: each new character gets at most the mean probability of an old one
    assert bool((new_logits.softmax(-1)[..., 7] <= p_new.mean(-1) + 1e-7).all())
