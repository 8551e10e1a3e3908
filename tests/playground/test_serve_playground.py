"""charlstm/playground.py, the per-character extras behind `charlstm serve`: the text equals
`sample.generate`'s for every cell (the random stream untouched), and the probabilities,
activations and gates equal the oracles (the model's own forward, introspect.trace)."""

import numpy as np
import pytest
import torch
from conftest import VERSE

from charlstm.config import ModelConfig
from charlstm.errors import ConfigError
from charlstm.insight.gates import GATES, trace
from charlstm.model import CharLSTM
from charlstm.playground.session import Probe, Session, inspect
from charlstm.sampling.generate import BLOCK, SampleConfig, generate_text
from charlstm.tokenizer import CharTokenizer

TOK = CharTokenizer.from_text(VERSE)


def model(cell: str, **kw) -> CharLSTM:
    torch.manual_seed(3)
    return CharLSTM(ModelConfig(vocab_size=TOK.vocab_size, cell=cell, embed=8, hidden=16, layers=2, dropout=0.0,
                                **kw)).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("prime,opts", [("", dict(seed=1)), ("The lamp", dict(seed=2, temperature=0.6, top_k=4)),
                                        ("A cat", dict(seed=3, top_p=0.7)), ("", dict(seed=4, temperature=0))])
def test_the_text_is_sample_generates(cell, prime, opts):
    m = model(cell)
    cfg = SampleConfig(length=2 * BLOCK + 5, **opts)
    s = Session(m, TOK, cfg, prime, probe=Probe(1, 2, "c"))
    blocks = list(s.blocks())
    assert [len(b) for b in blocks] == [BLOCK, BLOCK, 5]
    assert "".join(c.ch for b in blocks for c in b) == generate_text(m, TOK, cfg, prime)[0]
    assert s.context == (prime or "\n")


def test_a_corpus_without_line_breaks_starts_from_the_same_random_character():
    tok = CharTokenizer.from_text("abcdefgh ")
    torch.manual_seed(0)
    m = CharLSTM(ModelConfig(vocab_size=tok.vocab_size, cell="lstm", embed=4, hidden=8, layers=1, dropout=0.0))
    cfg = SampleConfig(length=40, seed=11)
    s = Session(m.eval(), tok, cfg)
    assert "".join(c.ch for b in s.blocks() for c in b) == generate_text(m, tok, cfg)[0]
    assert len(s.context) == 1


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layer", [0, 1])
def test_inspect_gives_what_introspect_trace_and_the_forward_give(cell, layer):
    m, text = model(cell), VERSE[:100]
    chars = [c for b in inspect(m, TOK, text, Probe(layer, 5, "c")) for c in b]
    tr = trace(m, TOK, text)["layers"][layer]
    state = "c" if cell == "lstm" else "h"
    want = np.tanh(tr["c"][:, 5]) if state == "c" else tr["h"][:, 5]
    np.testing.assert_allclose([c.act for c in chars], want, atol=1e-5)
    for k, gate in enumerate(GATES[cell]):
        np.testing.assert_allclose([c.gates[k] for c in chars], tr[gate][:, 5], atol=1e-5)
    ids = TOK.encode(text)
    with torch.no_grad():
        probs = m(torch.tensor([ids]))[0][0].softmax(-1)
    assert chars[0].p is None and chars[0].top == []
    np.testing.assert_allclose([c.p for c in chars[1:]], probs[range(len(ids) - 1), ids[1:]].numpy(), atol=1e-5)
    top = probs[0].topk(5)
    assert [t[0] for t in chars[1].top] == [TOK.chars[i] for i in top.indices.tolist()]


def test_generation_reports_what_retracing_its_text_reports():
    m = model("lstm")
    s = Session(m, TOK, SampleConfig(length=50, seed=5, temperature=0.8), "The", probe=Probe(1, 7, "h"))
    gen = [c for b in s.blocks() for c in b]
    again = [c for b in inspect(m, TOK, s.context + "".join(c.ch for c in gen), Probe(1, 7, "h")) for c in b][-50:]
    np.testing.assert_allclose([c.act for c in gen], [c.act for c in again], atol=1e-5)
    np.testing.assert_allclose([c.gates for c in gen], [c.gates for c in again], atol=1e-5)
    np.testing.assert_allclose([c.p for c in gen], [c.p for c in again], atol=1e-5)


def test_stop_ends_generation_at_the_next_block():
    s = Session(model("lstm"), TOK, SampleConfig(length=10 * BLOCK, seed=1))
    got = []
    for block in s.blocks(stop=lambda: len(got) >= 2):
        got.append(block)
    assert len(got) == 2 and s.generated == 2 * BLOCK


@pytest.mark.parametrize("probe,says", [(Probe(2, 0), "layer 2"), (Probe(0, 16), "unit 16"),
                                        (Probe(0, 0, "x"), "state")])
def test_a_probe_outside_the_model_is_refused(probe, says):
    with pytest.raises(ConfigError, match=says):
        Session(model("lstm"), TOK, SampleConfig(length=5, seed=1), probe=probe)


def test_a_cell_without_c_shows_h():
    assert Probe(0, 1, "c").check(model("gru")) == Probe(0, 1, "h")
