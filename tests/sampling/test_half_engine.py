"""The fp16 sampling engine (fast steps reading fp16 weights) and the stepwise loss used to compare engines."""

import pytest
import torch

import charlstm.sampling.generate as sample_mod
from charlstm.config import CELLS, ModelConfig
from charlstm.errors import ConfigError
from charlstm.model import CharLSTM
from charlstm.sampling.engines import (
    FastEngine,
    HalfWeightEngine,
    PlainEngine,
    half_weights_available,
    stepwise_loss,
)
from charlstm.sampling.generate import SampleConfig, generate, generate_text
from charlstm.tokenizer import CharTokenizer

needs_fbgemm = pytest.mark.skipif(not half_weights_available(), reason="this torch has no fbgemm fp16 products")
TEXT = "the cat sat on the mat.\nA dog? No: a frog!\n"


def sharp_model(cell="lstm", hidden=48):
    torch.manual_seed(2)
    tok = CharTokenizer.from_text(TEXT)
    m = CharLSTM(ModelConfig(vocab_size=tok.vocab_size, cell=cell, embed=8, hidden=hidden, layers=2, dropout=0.0))
    with torch.no_grad():  # larger weights than the init: sharper predictions, so rounding could show
        for p in m.parameters():
            p.mul_(4.0)
    return m.eval(), tok


def test_stepwise_loss_of_the_plain_engine_equals_the_models_own_forward():
    m, tok = sharp_model()
    ids = torch.randint(tok.vocab_size, (4 * 50 + 3,))  # 50 steps a lane; the last 2 ids left out
    T = 50
    x = torch.stack([ids[i * T:(i + 1) * T] for i in range(4)])
    y = torch.stack([ids[i * T + 1:(i + 1) * T + 1] for i in range(4)])
    with torch.no_grad():
        logits, _ = m(x, m.init_state(4))
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, tok.vocab_size), y.reshape(-1)).item()
    assert stepwise_loss(PlainEngine, m, ids, lanes=4) == pytest.approx(expected, abs=1e-5)
    assert stepwise_loss(FastEngine, m, ids, lanes=4) == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="too few"):
        stepwise_loss(FastEngine, m, ids[:3], lanes=4)


@needs_fbgemm
@pytest.mark.parametrize("cell", CELLS)
def test_half_weight_steps_stay_close_to_fp32_and_their_loss_within_00005(cell):
    m, tok = sharp_model(cell)
    state = m.init_state(3)
    fast, half = FastEngine(m, state), HalfWeightEngine(m, state)
    ids = torch.randint(tok.vocab_size, (3,))
    diffs = []
    with torch.no_grad():
        for _ in range(30):
            a, b = fast(ids), half(ids)
            torch.testing.assert_close(b, a, rtol=2e-2, atol=2e-2)
            diffs.append((a - b).abs().max().item())
            ids = a.argmax(-1)
    assert max(diffs) > 0  # the weights really were rounded: this is not the fp32 path under another name
    text = torch.randint(tok.vocab_size, (2001,))
    full, halved = stepwise_loss(FastEngine, m, text, 8), stepwise_loss(HalfWeightEngine, m, text, 8)
    # README: on the real model fp16 weights give "the same validation loss as fp32 to 5 decimals"; this model's
    # weights are 4x the init, so rounding shows more: 1.2e-5 (lstm), 1.5e-5 (gru), 1.1e-4 (rnn) measured
    assert abs(full - halved) < 0.0005, abs(full - halved)


@needs_fbgemm
def test_fp16_engine_is_reproducible_per_seed_and_says_its_text_differs():
    m, tok = sharp_model()
    cfg = SampleConfig(length=300, temperature=1.0, seed=9, num_samples=2)
    a = generate_text(m, tok, cfg, "the ", engine="fp16")
    assert a == generate_text(m, tok, cfg, "the ", engine="fp16")
    assert [len(t) for t in a] == [300, 300] and set("".join(a)) <= set(tok.chars)
    notes: list[str] = []
    list(generate(m, tok, SampleConfig(length=5, seed=1), engine="fp16", notes=notes))
    assert len(notes) == 1 and "differs from --engine fast" in notes[0]


def test_fp16_engine_refused_off_the_cpu_and_without_fbgemm(monkeypatch):
    m, _ = sharp_model()
    with pytest.raises(ConfigError, match="runs on the CPU"):
        sample_mod._half_engine(m, m.init_state(1), torch.device("meta"))
    monkeypatch.setattr(sample_mod, "half_weights_available", lambda: False)
    with pytest.raises(ConfigError, match="fbgemm"):
        sample_mod._half_engine(m, m.init_state(1), torch.device("cpu"))
