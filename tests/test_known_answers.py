"""Every runtime against one worked example (tests/fixtures/known_answers.json, written by
tests/known_answers.py in float64 from the textbook equations): in torch, model.py's cell steps, the
network's own forward, the sampling engines, `gates` and the playground's hover; numpy's engine;
onnxruntime running the exported file; and the sampling filters of torch, numpy and the ONNX sampler.
The web page's step and filter are held to the same example in tests/export/test_webexport.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from known_answers import load

from charlstm.config import CELLS, ModelConfig
from charlstm.model import CharLSTM, gru_step, lstm_step, rnn_step
from charlstm.tokenizer import CharTokenizer

ANSWERS = load()
F32 = dict(rtol=0, atol=2e-6)  # float32 arithmetic against float64 answers of size ~1


def model_of(cell: str) -> CharLSTM:
    entry = ANSWERS["models"][cell]
    model = CharLSTM(ModelConfig(**entry["config"])).eval()
    model.load_state_dict({k: torch.tensor(v, dtype=torch.float32) for k, v in entry["weights"].items()})
    return model


def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_dict({"chars": "".join(ANSWERS["vocab"]), "normalization": "NFC"})


def expected(cell: str, what: str, layer: int = -1) -> torch.Tensor:
    """[T, ...] over the steps: 'logits', or a layer's 'h', 'c' or a gate's name."""
    steps = ANSWERS["models"][cell]["steps"]
    if what == "logits":
        return torch.tensor([s["logits"] for s in steps])
    rec = [s["layers"][layer] for s in steps]
    return torch.tensor([r[what] if what in r else r["gates"][what] for r in rec])


def checkpoint_of(cell: str) -> dict:
    from charlstm.config import TrainConfig
    from charlstm.store import checkpoint
    model = model_of(cell)
    return {"format_version": checkpoint.FORMAT_VERSION, "model_config": model.config.to_dict(),
            "train_config": TrainConfig().to_dict(), "vocab": tokenizer().to_dict(),
            "model": {k: v.clone() for k, v in model.state_dict().items()}, "step": 1, "run_name": "known"}


@pytest.mark.parametrize("cell", CELLS)
def test_the_torch_cell_steps(cell):
    """model.py's lstm_step / gru_step / rnn_step, fed the fixture's weights layer by layer."""
    w = {k: torch.tensor(v, dtype=torch.float32) for k, v in ANSWERS["models"][cell]["weights"].items()}
    H, L = 2, 2
    h, c = [torch.zeros(H) for _ in range(L)], [torch.zeros(H) for _ in range(L)]
    for t, i in enumerate(ANSWERS["models"][cell]["ids"]):
        x = w["embed.weight"][i]
        for layer in range(L):
            xt = w[f"rnn.weight_ih_l{layer}"] @ x + w[f"rnn.bias_ih_l{layer}"]
            ht = w[f"rnn.weight_hh_l{layer}"] @ h[layer] + w[f"rnn.bias_hh_l{layer}"]
            if cell == "lstm":
                h[layer], c[layer], gates = lstm_step(xt + ht, c[layer])
                torch.testing.assert_close(c[layer], expected(cell, "c", layer)[t], **F32)
            elif cell == "gru":
                h[layer], gates = gru_step(xt, ht, h[layer])
            else:
                h[layer], gates = rnn_step(xt + ht), ()
            torch.testing.assert_close(h[layer], expected(cell, "h", layer)[t], **F32)
            names = ANSWERS["models"][cell]["steps"][t]["layers"][layer]["gates"]
            for name, got in zip(names, gates, strict=True):
                torch.testing.assert_close(got, expected(cell, name, layer)[t], **F32)
            x = h[layer]


@pytest.mark.parametrize("cell", CELLS)
def test_the_network_forward(cell):
    """nn.LSTM / nn.GRU / nn.RNN's own kernels (training, evaluation, the plain engine)."""
    model = model_of(cell)
    with torch.no_grad():
        logits, state = model(torch.tensor([ANSWERS["models"][cell]["ids"]]))
    torch.testing.assert_close(logits[0], expected(cell, "logits"), **F32)
    torch.testing.assert_close(state[0][:, 0], torch.stack([expected(cell, "h", k)[-1] for k in range(2)]), **F32)


@pytest.mark.parametrize("engine", ["PlainEngine", "FastEngine", "NumpyStep", "HalfWeightEngine"])
@pytest.mark.parametrize("cell", CELLS)
def test_the_sampling_engines(cell, engine):
    from charlstm.sampling import engines
    model = model_of(cell)
    step = getattr(engines, engine)(model, model.init_state(1))
    got = torch.stack([step(torch.tensor([i]))[0] for i in ANSWERS["models"][cell]["ids"]])
    # fp16 weights: each two-decimal weight rounded to 11 significant bits
    tolerance = dict(rtol=0, atol=2e-2) if engine == "HalfWeightEngine" else F32
    torch.testing.assert_close(got.float(), expected(cell, "logits"), **tolerance)


@pytest.mark.parametrize("cell", CELLS)
def test_the_numpy_engine(cell):
    from charlstm.sampling.numpy_engine import NumpyEngine
    entry = ANSWERS["models"][cell]
    engine = NumpyEngine({k: np.asarray(v, np.float32) for k, v in entry["weights"].items()},
                         ModelConfig(**entry["config"]), 1)
    got = np.stack([engine(np.array([i]))[0] for i in entry["ids"]])
    np.testing.assert_allclose(got, expected(cell, "logits").numpy(), rtol=0, atol=2e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_gates_and_inspect(cell):
    from charlstm.insight.gates import trace
    tok = tokenizer()
    got = trace(model_of(cell), tok, tok.decode(ANSWERS["models"][cell]["ids"]))
    for layer in range(2):
        for name, values in got["layers"][layer].items():
            torch.testing.assert_close(torch.from_numpy(values), expected(cell, name, layer), **F32)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_playground_hover(cell):
    """One unit's gates at each step, as the playground shows them on hover."""
    from charlstm.playground.session import Probe, unit_gates
    model, ids = model_of(cell), ANSWERS["models"][cell]["ids"]
    unit, layer = 1, 1
    x = torch.stack([expected(cell, "h", 0)[t] for t in range(len(ids))])  # layer 1 reads layer 0's h
    h_prev = torch.cat([torch.zeros(1, 2), expected(cell, "h", layer)[:-1]])
    got = unit_gates(model, Probe(layer=layer, unit=unit), ids, x, h_prev)
    names = ANSWERS["models"][cell]["steps"][0]["layers"][layer]["gates"]
    want = torch.stack([expected(cell, name, layer)[:, unit] for name in names], 1)
    torch.testing.assert_close(got, want, **F32)


@pytest.mark.parametrize("cell", CELLS)
def test_onnxruntime_runs_the_exported_file(cell, tmp_path):
    from charlstm.assets.sample_onnx import Model
    from charlstm.export.onnxfile import export_onnx
    export_onnx(checkpoint_of(cell), tmp_path / "known.onnx")
    onnx = Model(str(tmp_path / "known.onnx"))
    ids = ANSWERS["models"][cell]["ids"]
    got = np.stack([onnx.start(ids[:1]), *[onnx.step([i]) for i in ids[1:]]])
    np.testing.assert_allclose(got, expected(cell, "logits").numpy(), rtol=0, atol=2e-6)


CASES = ANSWERS["filters"]["cases"]


@pytest.mark.parametrize("case", CASES, ids=[f"t{c['temperature']}-k{c['top_k']}-p{c['top_p']}-m{c['min_p']}"
                                             for c in CASES])
def test_the_sampling_filters(case):
    from charlstm.assets.sampling_filters import probabilities
    from charlstm.sampling import generate
    logits, want = ANSWERS["filters"]["logits"], np.array(case["probabilities"])
    opts = (case["temperature"], case["top_k"], case["top_p"], case["min_p"])
    got = {"torch": generate.probabilities(torch.tensor([logits]), *opts)[0].numpy(),
           "numpy engine (float32)": probabilities(np.array([logits], np.float32), *opts)[0],
           "onnx sampler (float64)": probabilities(np.array([logits], np.float32), *opts, dtype=np.float64)[0]}
    for runtime, p in got.items():
        np.testing.assert_allclose(p, want, rtol=0, atol=1e-6, err_msg=runtime)
