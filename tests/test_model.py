import pytest
import torch

from charlstm.config import ModelConfig, param_count
from charlstm.errors import ConfigError
from charlstm.model import CharLSTM, detach_state

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
def test_param_count_matches_built_model(cell):
    assert param_count(cell, 11, 6, 10, 2) == make(cell).num_params()


def test_config_validation():
    with pytest.raises(ConfigError, match="--cell"):
        ModelConfig(vocab_size=5, cell="transformer")
    with pytest.raises(ConfigError, match="--dropout"):
        ModelConfig(vocab_size=5, dropout=1.0)
    with pytest.raises(ConfigError, match="--weight-drop"):
        ModelConfig(vocab_size=5, weight_drop=-0.1)


@pytest.mark.parametrize("cell", CELLS)
def test_weight_drop_zeroes_recurrent_weights_for_the_whole_window(cell):
    """DropConnect: a dropped hidden-to-hidden weight takes no part in the window, so its gradient
    is exactly zero; the kept ones are scaled by 1/(1-p); the input-to-hidden weights are untouched."""
    p = 0.5
    m = make(cell, weight_drop=p, hidden=16).train()
    idx = torch.randint(11, (3, 12))
    torch.manual_seed(5)
    logits, _ = m(idx)
    logits.square().sum().backward()
    for layer in range(2):
        g = getattr(m.rnn, f"weight_hh_l{layer}").grad
        zero = (g == 0).float().mean().item()
        assert 0.4 < zero < 0.6, (layer, zero)  # about half dropped, the same mask at every step
        assert (getattr(m.rnn, f"weight_ih_l{layer}").grad == 0).float().mean() < 0.05

    # the same window through a copy whose recurrent weights are masked by hand gives the same logits
    torch.manual_seed(5)
    masks = {n: torch.nn.functional.dropout(torch.ones_like(w), p) for n, w in m.rnn.named_parameters()
             if n.startswith("weight_hh")}
    plain = make(cell, hidden=16).eval()
    plain.load_state_dict(m.state_dict())
    with torch.no_grad():
        for n, mask in masks.items():
            getattr(plain.rnn, n).mul_(mask)
        assert all(((mask == 0) == (getattr(m.rnn, n).grad == 0)).float().mean() > 0.9 for n, mask in masks.items())
    torch.testing.assert_close(plain(idx)[0], logits.detach())


def test_weight_drop_is_off_in_eval_mode():
    m = make(weight_drop=0.5)
    plain = make()
    plain.load_state_dict(m.state_dict())
    idx = torch.randint(11, (2, 7))
    torch.testing.assert_close(m.eval()(idx)[0], plain.eval()(idx)[0], rtol=0, atol=0)
    assert not torch.equal(m.train()(idx)[0], plain.eval()(idx)[0])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 3])
def test_weight_shapes_match_a_built_model(cell, layers):
    from charlstm.config import ModelConfig
    from charlstm.model import weight_shapes
    cfg = ModelConfig(vocab_size=11, cell=cell, embed=6, hidden=10, layers=layers)
    assert weight_shapes(cfg) == {k: tuple(v.shape) for k, v in CharLSTM(cfg).state_dict().items()}
