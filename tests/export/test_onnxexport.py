"""ONNX export against the checkpoint it came from: onnxruntime gives torch's logits and state for
several (batch, length) shapes and over a 200-step rollout that carries the state, for every cell;
the file carries its vocabulary; the torch-free sampler at temperature 0 prints what
`charlstm sample --temp 0` prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import onnxscript  # noqa: F401  (a declared test dependency: the export needs it, so a missing one is an error)
import pytest
import torch
from typer.testing import CliRunner

from charlstm.config import ModelConfig, TrainConfig
from charlstm.export.onnxfile import SAMPLER, export_onnx, names
from charlstm.model import CharLSTM
from charlstm.store import checkpoint
from charlstm.tokenizer import CharTokenizer

TEXT = "the cat sat on the mat.\nA dog? No: a frog!\n"


def checkpoint_dict(cell: str = "lstm", hidden: int = 16, layers: int = 2, scale: float = 3.0,
                    styles: tuple[str, ...] = ()) -> dict:
    """A small valid checkpoint (it passes checkpoint.validate); weights scaled up from the init so
    that greedy text varies. With `styles`, a styled model."""
    torch.manual_seed(1)
    tok = CharTokenizer.from_text(TEXT)
    model = CharLSTM(ModelConfig(vocab_size=tok.vocab_size, cell=cell, embed=8, hidden=hidden, layers=layers,
                                 dropout=0.1, styles=styles, style_embed=4))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return {"format_version": checkpoint.FORMAT_VERSION, "model_config": model.config.to_dict(),
            "train_config": TrainConfig().to_dict(), "vocab": tok.to_dict(),
            "model": {k: v.clone() for k, v in model.state_dict().items()}, "step": 42, "run_name": "tiny",
            "corpus": {"paths": ["verse.txt"], "options": {}, "tokens": len(TEXT), "checksum": 7}}


@pytest.fixture(scope="module", params=["lstm", "gru", "rnn"])
def exported(request, tmp_path_factory):
    ckpt = checkpoint_dict(request.param)
    path = tmp_path_factory.mktemp(f"onnx-{request.param}") / "model.onnx"
    size, err = export_onnx(ckpt, path)
    assert size == path.stat().st_size and err < 1e-5
    model, tok = checkpoint.build_model(ckpt)
    return model, tok, ckpt, path


def session_of(path: Path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # tiny models: extra threads only spin against the other tests
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(session, cell, tokens, state):
    inputs, _ = names(cell)
    logits, *new = session.run(None, dict(zip(inputs, [tokens.numpy(), *[s.numpy() for s in state]])))
    return torch.from_numpy(logits), [torch.from_numpy(s) for s in new]


def test_logits_and_state_match_torch_for_several_shapes(exported, capfd):
    model, _, ckpt, path = exported
    cell, c = ckpt["model_config"]["cell"], model.config
    session = session_of(path)
    g = torch.Generator().manual_seed(0)
    for batch, length in [(1, 1), (2, 7), (3, 1), (1, 33), (4, 5)]:
        tokens = torch.randint(c.vocab_size, (batch, length), generator=g)
        state = [torch.randn(c.layers, batch, c.hidden, generator=g) * 0.5 for _ in range(model.state_size)]
        logits, new = run(session, cell, tokens, state)
        with torch.no_grad():
            ref_logits, ref_state = model(tokens, tuple(state))
        torch.testing.assert_close(logits, ref_logits, rtol=0, atol=1e-5)
        for a, b in zip(new, ref_state):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert "onnxruntime" not in capfd.readouterr().err  # no shape warnings from stale annotations


@pytest.fixture
def one_thread():
    """200 single-character calls: torch's second thread only adds hand-offs (and on a busy machine,
    waits)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_a_200_step_rollout_carrying_the_state_matches_torch(exported, one_thread):
    model, _, ckpt, path = exported
    cell = ckpt["model_config"]["cell"]
    session = session_of(path)
    state = list(model.init_state(2))
    ref_state = model.init_state(2)
    ids = torch.tensor([[1], [2]])
    worst = 0.0
    with torch.no_grad():
        for _ in range(200):
            logits, state = run(session, cell, ids, state)
            ref_logits, ref_state = model(ids, ref_state)
            worst = max(worst, float((logits - ref_logits).abs().max()),
                        *(float((a - b).abs().max()) for a, b in zip(state, ref_state)))
            ids = ref_logits[:, -1].argmax(-1, keepdim=True)
    assert worst <= 1e-5


def test_the_file_is_self_contained_and_carries_vocabulary_and_config(exported):
    model, tok, ckpt, path = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert os.listdir(path.parent) == ["model.onnx"]  # no external data file
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in proto.graph.initializer)
    assert len(proto.graph.value_info) == 0
    meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    assert meta["vocab"] == tok.chars and meta["normalization"] == "NFC"
    assert meta["model_config"] == ckpt["model_config"]
    assert meta["lineage"]["run_name"] == "tiny" and meta["lineage"]["step"] == 42
    assert meta["lineage"]["corpus"] == {"paths": ["verse.txt"], "tokens": len(TEXT), "checksum": 7}
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*proto.graph.input, *proto.graph.output]}
    c = model.config
    state = [c.layers, "batch", c.hidden]
    expected = {"tokens": ["batch", "seq"], "logits": ["batch", "seq", c.vocab_size], "h0": state, "h1": state}
    if c.cell == "lstm":
        expected |= {"c0": state, "c1": state}
    assert dims == expected


def sampler(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, str(SAMPLER), *args, "--threads", "1"], capture_output=True, text=True,
                          encoding="utf-8", env=env, timeout=120)


@pytest.mark.parametrize("exported", ["lstm"], indirect=True)  # one cell: the parity tests cover the others
@pytest.mark.parametrize("prime", ["the ", ""])
def test_the_sampler_at_temperature_0_prints_what_charlstm_sample_prints(exported, tmp_path, prime):
    model, _, ckpt, path = exported
    from charlstm.cli import app
    checkpoint.save(ckpt, tmp_path / "run" / "best.pt")
    ref = CliRunner().invoke(app, ["sample", str(tmp_path / "run"), "--temp", "0", "--prime", prime, "--length", "150",
                                   "--device", "cpu"])
    assert ref.exit_code == 0, ref.output
    got = sampler(str(path), "--temp", "0", "--prime", prime, "--length", "150")
    assert got.returncode == 0, got.stderr
    assert got.stdout == ref.stdout
    assert len(set(got.stdout)) > 3  # the text varies, so the comparison means something


@pytest.mark.parametrize("exported", ["lstm"], indirect=True)
def test_the_sampler_with_min_p_1_writes_the_temperature_0_text(exported):
    _, _, _, path = exported
    greedy = sampler(str(path), "--temp", "0", "-n", "100", "--prime", "the ")
    got = sampler(str(path), "--temp", "1.5", "--min-p", "1", "--seed", "4", "-n", "100", "--prime", "the ")
    assert got.returncode == 0 and got.stdout == greedy.stdout
    assert sampler(str(path), "--min-p", "2").returncode == 2  # refused by its argument check


@pytest.mark.parametrize("exported", ["lstm"], indirect=True)
def test_the_sampler_repeats_a_seed_and_refuses_unknown_characters(exported):
    _, tok, ckpt, path = exported
    a = sampler(str(path), "--seed", "3", "--top-k", "5", "--top-p", "0.9", "-n", "80", "--temp", "1.2")
    b = sampler(str(path), "--seed", "3", "--top-k", "5", "--top-p", "0.9", "-n", "80", "--temp", "1.2")
    assert a.returncode == 0 and a.stdout == b.stdout and len(a.stdout) == 81
    assert set(a.stdout[:-1]) <= set(tok.chars)
    bad = sampler(str(path), "--prime", "Z~")
    assert bad.returncode == 1 and bad.stdout == "" and "never saw" in bad.stderr


def test_sampler_probabilities_follow_charlstm_top_k_and_top_p():
    sys.path.insert(0, str(SAMPLER.parent))
    try:
        import sample_onnx
    finally:
        sys.path.remove(str(SAMPLER.parent))
    from charlstm.sampling.generate import probabilities
    logits = np.random.default_rng(0).normal(size=(40,)).astype(np.float32) * 3
    for temp, k, p in [(1.0, None, None), (0.7, 5, None), (1.3, None, 0.8), (1.0, 10, 0.5), (2.0, 1, None)]:
        ref = probabilities(torch.from_numpy(logits)[None], temp, k, p)[0].numpy()
        got = sample_onnx.probabilities(logits[None], temp, k, p, dtype=np.float64)[0]  # the sampler's float64
        np.testing.assert_allclose(got, ref, atol=1e-6)


def test_export_onnx_writes_atomically(tmp_path, monkeypatch):
    """A failed export leaves an existing file as it was and no temp file behind."""
    import charlstm.export.onnxfile as ox
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    monkeypatch.setattr(ox, "to_proto", lambda model, ckpt: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        export_onnx(checkpoint_dict("rnn", hidden=4, layers=1), target)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_the_sampler_imports_neither_torch_nor_charlstm():
    import ast

    def imported(path):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        top |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        return top - set(sys.stdlib_module_names)
    assert imported(SAMPLER) == {"numpy", "onnxruntime", "sampling_filters"}  # the filters written beside it
    assert imported(SAMPLER.with_name("sampling_filters.py")) == {"numpy"}
