import pytest
import torch

from charlstm.config import CELLS, ModelConfig
from charlstm.errors import ConfigError, PrimeError
from charlstm.model import CharLSTM
from charlstm.sampling.engines import FastEngine, PlainEngine
from charlstm.sampling.generate import SampleConfig, generate_text, probabilities
from charlstm.tokenizer import CharTokenizer

TEXT = "the cat sat on the mat.\nA dog? No: a frog!\n"


def model_and_tok(cell="lstm", hidden=32, layers=2):
    torch.manual_seed(1)
    tok = CharTokenizer.from_text(TEXT)
    m = CharLSTM(ModelConfig(vocab_size=tok.vocab_size, cell=cell, embed=8, hidden=hidden, layers=layers,
                             dropout=0.1))
    with torch.no_grad():  # larger weights than the init, so the steps differ visibly
        for p in m.parameters():
            p.mul_(3.0)
    return m.eval(), tok


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch", [1, 3])
def test_fast_step_equals_model_forward(cell, batch):
    m, tok = model_and_tok(cell)
    state = m.init_state(batch)
    plain, fast = PlainEngine(m, state), FastEngine(m, state)
    ids = torch.randint(tok.vocab_size, (batch,))
    with torch.no_grad():
        for _ in range(20):
            a, b = plain(ids), fast(ids)
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
            ids = a.argmax(-1)
    for s_plain, s_fast in zip(plain.state, fast.state):
        torch.testing.assert_close(s_fast, s_plain, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fast_and_plain_paths_give_the_same_text(cell):
    m, tok = model_and_tok(cell)
    cfg = SampleConfig(length=400, temperature=1.0, seed=3, num_samples=2)
    assert generate_text(m, tok, cfg, "the ", engine="fast") == generate_text(m, tok, cfg, "the ", engine="plain")


def test_same_seed_same_text_and_different_seed_differs():
    m, tok = model_and_tok()
    a = generate_text(m, tok, SampleConfig(length=200, seed=5))
    assert a == generate_text(m, tok, SampleConfig(length=200, seed=5))
    assert a != generate_text(m, tok, SampleConfig(length=200, seed=6))
    assert len(a[0]) == 200 and set(a[0]) <= set(tok.chars)


def test_temperature_zero_is_argmax_and_ignores_seed():
    m, tok = model_and_tok()
    a = generate_text(m, tok, SampleConfig(length=60, temperature=0, seed=1), "the")
    b = generate_text(m, tok, SampleConfig(length=60, temperature=0, seed=2), "the")
    assert a == b
    # the oracle: argmax of the model's own forward, one step at a time
    ids = tok.encode("the")
    out = []
    with torch.no_grad():
        logits, state = m(torch.tensor([ids]))
        for _ in range(60):
            nxt = int(logits[0, -1].argmax())
            out.append(tok.chars[nxt])
            logits, state = m(torch.tensor([[nxt]]), state)
    assert a[0] == "".join(out)


def test_top_k_and_top_p_known_answers():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    p = probabilities(logits, 1.0)
    torch.testing.assert_close(p, torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    torch.testing.assert_close(probabilities(logits, 1.0, top_k=2), torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    # nucleus 0.8: 0.5 + 0.3 reaches 0.8, so only the two most likely stay
    torch.testing.assert_close(probabilities(logits, 1.0, top_p=0.8), torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    torch.testing.assert_close(probabilities(logits, 1.0, top_p=0.81), torch.tensor([[0.5, 0.3, 0.15, 0.0]]) / 0.95)
    # temperature 0.5 squares then renormalizes the probabilities
    sq = torch.tensor([[0.25, 0.09, 0.0225, 0.0025]])
    torch.testing.assert_close(probabilities(logits, 0.5), sq / sq.sum())


def test_top_k_one_equals_argmax():
    m, tok = model_and_tok()
    a = generate_text(m, tok, SampleConfig(length=50, temperature=1.3, top_k=1, seed=9), "a")
    b = generate_text(m, tok, SampleConfig(length=50, temperature=0, seed=1), "a")
    assert a == b


def test_sampling_frequencies_follow_probabilities():
    from charlstm.sampling.generate import make_generator, pick
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1, 0.0]])).expand(20000, 4)
    ids = pick(logits, SampleConfig(temperature=1.0), torch.rand(20000, 1, generator=make_generator(0)))
    freq = torch.bincount(ids, minlength=4).float() / len(ids)
    torch.testing.assert_close(freq, torch.tensor([0.7, 0.2, 0.1, 0.0]), atol=0.015, rtol=0)
    # the inverse CDF at known points: [0, 0.7) -> 0, [0.7, 0.9) -> 1, [0.9, 1) -> 2
    u = torch.tensor([[0.0], [0.69], [0.7], [0.899], [0.9], [0.999]])
    assert pick(logits[:6], SampleConfig(temperature=1.0), u).tolist() == [0, 0, 1, 1, 2, 2]


def test_prime_errors_and_skip():
    m, tok = model_and_tok()
    with pytest.raises(PrimeError, match="U+005A|'Z'"):
        generate_text(m, tok, SampleConfig(length=5), "Zebra")
    assert len(generate_text(m, tok, SampleConfig(length=5, seed=1), "Zebra", skip_unknown=True)[0]) == 5


@pytest.mark.parametrize("kw", [dict(temperature=-1), dict(top_p=0.0), dict(top_p=1.5), dict(top_k=0),
                                dict(length=-1), dict(num_samples=0)])
def test_sample_config_validation(kw):
    with pytest.raises(ConfigError):
        SampleConfig(**kw)


def test_sampling_keeps_training_rng_untouched():
    m, tok = model_and_tok()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    generate_text(m, tok, SampleConfig(length=50, seed=4))
    assert torch.equal(before, torch.get_rng_state())


def test_prime_is_normalized_like_the_corpus():
    import unicodedata
    text = "Tiếng Việt hay lắm\n" * 3
    torch.manual_seed(0)
    tok = CharTokenizer.from_text(text)
    m = CharLSTM(ModelConfig(vocab_size=tok.vocab_size, embed=4, hidden=8, layers=1, dropout=0.0)).eval()
    nfd = unicodedata.normalize("NFD", "Tiếng ")
    assert nfd != "Tiếng "
    cfg = SampleConfig(length=30, seed=2)
    assert generate_text(m, tok, cfg, nfd) == generate_text(m, tok, cfg, "Tiếng ")


def test_text_spans_several_blocks_and_is_reproducible():
    from charlstm.sampling.generate import BLOCK
    m, tok = model_and_tok()
    cfg = SampleConfig(length=3 * BLOCK + 5, temperature=1.0, seed=11, num_samples=3)
    a = generate_text(m, tok, cfg, "the ", engine="fast")
    assert [len(t) for t in a] == [3 * BLOCK + 5] * 3
    assert a == generate_text(m, tok, cfg, "the ", engine="plain")
    assert len(set(a)) == 3  # each sample draws its own uniforms


def test_graph_path_needs_cuda_and_unknown_path_is_refused():
    m, tok = model_and_tok()
    with pytest.raises(ConfigError, match="CUDA"):
        generate_text(m, tok, SampleConfig(length=5, seed=1), engine="graph")
    with pytest.raises(ConfigError, match="sampling engine"):
        generate_text(m, tok, SampleConfig(length=5, seed=1), engine="turbo")


def test_failed_graph_capture_falls_back_to_the_eager_fast_path(monkeypatch):
    import charlstm.sampling.generate as sample_mod
    m, tok = model_and_tok()
    cfg = SampleConfig(length=70, temperature=0.9, seed=4)
    expected = generate_text(m, tok, cfg, "the ", engine="fast")

    def refuse(*args, **kwargs):
        raise RuntimeError("capture refused")
    monkeypatch.setattr(sample_mod, "graph_capable", lambda device: True)
    monkeypatch.setattr(sample_mod, "GraphBlock", refuse)
    notes: list[str] = []
    got = ["".join(c[0] for c in sample_mod.generate(m, tok, cfg, "the ", engine="auto", notes=notes))]
    assert got == expected
    assert len(notes) == 1 and "capture refused" in notes[0] and "eagerly" in notes[0]
