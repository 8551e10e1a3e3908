import numpy as np
import pytest
import torch

from charlstm.config import CELLS, ModelConfig
from charlstm.insight.gates import (
    bracket_depth,
    inside_quotes,
    position_in_line,
    rank_units,
    saturation,
    trace,
    unit_saturation,
)
from charlstm.insight.pictures import activation_html, saturation_svg
from charlstm.model import CharLSTM
from charlstm.tokenizer import CharTokenizer
from charlstm.training.gradients import GradientMonitor, layer_groups, layer_norms

TEXT = 'She said "hi (there)"\nand left.\n'


def model(cell, layers=2):
    torch.manual_seed(0)
    tok = CharTokenizer.from_text(TEXT)
    m = CharLSTM(ModelConfig(vocab_size=tok.vocab_size, cell=cell, embed=5, hidden=7, layers=layers, dropout=0.0))
    return m.eval(), tok


@pytest.mark.parametrize("cell", CELLS)
def test_recomputed_equations_equal_the_module(cell):
    m, tok = model(cell)
    tr = trace(m, tok, TEXT)
    with torch.no_grad():
        out, state = m.rnn(m.embed(torch.tensor([tok.encode(TEXT)])))
    state = state if isinstance(state, tuple) else (state,)
    np.testing.assert_allclose(tr["layers"][-1]["h"], out[0].numpy(), rtol=1e-5, atol=1e-6)
    for l in range(2):
        np.testing.assert_allclose(tr["layers"][l]["h"][-1], state[0][l, 0].numpy(), rtol=1e-5, atol=1e-6)
        if cell == "lstm":
            np.testing.assert_allclose(tr["layers"][l]["c"][-1], state[1][l, 0].numpy(), rtol=1e-5, atol=1e-6)
    if cell == "lstm":
        lay = tr["layers"][0]
        assert set(lay) == {"h", "c", "input", "forget", "cell", "output"}
        # c_t = f_t * c_{t-1} + i_t * g_t and h_t = o_t * tanh(c_t), checked from the traced values
        np.testing.assert_allclose(lay["c"][1:], lay["forget"][1:] * lay["c"][:-1] + lay["input"][1:] * lay["cell"][1:],
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(lay["h"], lay["output"] * np.tanh(lay["c"]), rtol=1e-5, atol=1e-6)


def test_features_known_answers():
    chars = list('a"b(c)"\nxy')
    assert inside_quotes(chars).tolist() == [0, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert position_in_line(chars).tolist() == [1, 2, 3, 4, 5, 6, 7, 0, 1, 2]
    assert bracket_depth(chars).tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 0, 0]


def test_rank_units_finds_the_tracking_unit():
    rng = np.random.default_rng(0)
    feature = (np.arange(200) % 17).astype(float)
    acts = rng.normal(size=(200, 6))
    acts[:, 4] = -0.3 * feature + rng.normal(scale=0.01, size=200)
    top = rank_units(acts, feature, top=2)
    assert top[0][0] == 4 and top[0][1] < -0.99


def test_saturation_fractions():
    layer = {"input": np.array([[0.05, 0.5], [0.95, 0.99]]), "h": np.zeros((2, 2))}
    assert saturation(layer) == {"input": {"left": 0.25, "right": 0.5, "between": 0.25}}
    left, right = unit_saturation(layer, "input")
    assert left.tolist() == [0.5, 0.0] and right.tolist() == [0.5, 0.5]


def test_reports_are_self_contained():
    page = activation_html(list('<a>\n'), np.array([1.0, -1.0, 0.0, 0.5]), "unit 3")
    assert "&lt;" in page and "rgba(214,39,40,1.00)" in page and "rgba(31,119,180,1.00)" in page and "http" not in page
    svg = saturation_svg([{"input": (np.array([0.0, 1.0]), np.array([1.0, 0.0]))}], "gates")
    assert svg.startswith("<svg") and svg.count("<circle") == 2


def test_layer_norms_combine_to_the_global_norm():
    m, tok = model("lstm")
    logits, _ = m(torch.tensor([tok.encode(TEXT)]))
    logits.sum().backward()
    norms = layer_norms(layer_groups(m))
    assert set(norms) == {"embed", "layer0", "layer1", "head"}
    total = torch.nn.utils.clip_grad_norm_(m.parameters(), 1e9).item()
    assert np.sqrt(sum(v * v for v in norms.values())) == pytest.approx(total, rel=1e-5)


def test_gradient_monitor_warnings():
    mon = GradientMonitor(layers=2, clip=1.0, cell="rnn")
    warned = [w for s in range(100) for w in mon.observe(s, 5.0)]
    assert [k for k, _ in warned] == ["exploding"]  # once, when the window is full
    assert not [w for s in range(100, 200) for w in mon.observe(s, 5.0)]  # not repeated at once
    mon = GradientMonitor(layers=2, clip=1.0, cell="rnn")
    warned = [w for s in range(20) for w in mon.observe(s, 0.5, {"layer0": 1e-7, "layer1": 1.0})]
    assert [k for k, _ in warned] == ["vanishing"] and "--cell lstm" in warned[0][1]
    healthy = GradientMonitor(layers=2, clip=1.0, cell="lstm")
    assert not [w for s in range(300) for w in healthy.observe(s, 0.5, {"layer0": 0.3, "layer1": 1.0})]
