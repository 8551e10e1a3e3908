import pytest
import torch

from charlstm.config import ModelConfig
from charlstm.errors import ConfigError
from charlstm.model import CharLSTM, detach_state, params_for

CELLS = ["lstm", "gru", "rnn"]


def make(cell="lstm", **kw):
    torch.manual_seed(0)
    cfg = dict(vocab_size=11, cell=cell, embed=6, hidden=10, layers=2, dropout=0.0)
    cfg.update(kw)
    return CharLSTM(ModelConfig(**cfg))


@pytest.mark.parametrize("cell", CELLS)
def test_shapes_and_state(cell):
    m = make(cell)
    idx = torch.randint(11, (3, 5))
    logits, state = m(idx)
    assert logits.shape == (3, 5, 11)
    assert len(state) == (2 if cell == "lstm" else 1)
    assert all(s.shape == (2, 3, 10) for s in state)


@pytest.mark.parametrize("cell", CELLS)
def test_chunks_with_carried_state_equal_whole_sequence(cell):
    m = make(cell).eval()
    idx = torch.randint(11, (2, 24))
    whole, s_whole = m(idx)
    state, parts = None, []
    for chunk in idx.split(5, dim=1):
        out, state = m(chunk, state)
        parts.append(out)
    torch.testing.assert_close(torch.cat(parts, 1), whole)
    for a, b in zip(state, s_whole):
        torch.testing.assert_close(a, b)


def test_detached_state_stops_gradients():
    m = make()
    _, state = m(torch.randint(11, (2, 4)))
    assert all(s.requires_grad for s in state)
    assert not any(s.requires_grad for s in detach_state(state))


@pytest.mark.parametrize("cell", CELLS)
def test_gradcheck_float64(cell):
    m = make(cell, vocab_size=5, embed=3, hidden=4, layers=2).double()
    idx = torch.randint(5, (2, 3))
    h0 = tuple(torch.randn(2, 2, 4, dtype=torch.float64, requires_grad=True) for _ in range(m.state_size))

    def f(*h):
        return m(idx, tuple(h))[0]
    assert torch.autograd.gradcheck(f, h0, eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_params_for_matches_built_model(cell):
    assert params_for(cell, 11, 6, 10, 2) == make(cell).num_params()


def test_config_validation():
    with pytest.raises(ConfigError, match="--cell"):
        ModelConfig(vocab_size=5, cell="transformer")
    with pytest.raises(ConfigError, match="--dropout"):
        ModelConfig(vocab_size=5, dropout=1.0)
