"""The numpy engine and the torch-free checkpoint reader: known answers from torch itself.

torch's generator gives the uniforms (TorchStream must equal them); the fast engine gives the text
(the numpy engine must write the same for a seed, for every cell and filter); torch.load gives the
weights (arrays.load must read the same numbers, for fp32, fp16 and bf16 files); and `charlstm
sample` on the CPU must finish without torch ever being imported.
"""

import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from charlstm.config import CELLS, ModelConfig, SampleConfig
from charlstm.errors import CheckpointError
from charlstm.model import CharLSTM
from charlstm.sampling import numpy_engine, sampler
from charlstm.sampling.engines import FastEngine, NumpyStep, stepwise_loss
from charlstm.sampling.generate import generate_text
from charlstm.store import arrays, checkpoint, starter
from charlstm.tokenizer import CharTokenizer

TOK = CharTokenizer([chr(32 + i) for i in range(60)] + ["\n"])


def model_of(cell: str, scale: float = 3.0) -> CharLSTM:
    """A small model whose weights are scaled up from the init, so its distributions are peaked and
    varied, as a trained model's are (at the init every character is nearly equally likely)."""
    torch.manual_seed(0)
    m = CharLSTM(ModelConfig(vocab_size=TOK.vocab_size, cell=cell, embed=32, hidden=64, layers=2,
                             dropout=0.0)).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(scale)
    return m


def numpy_text(m: CharLSTM, cfg: SampleConfig, prime: str = "") -> list[str]:
    weights = {k: v.numpy() for k, v in m.state_dict().items()}
    out = [[] for _ in range(cfg.num_samples)]
    for step in numpy_engine.generate(weights, m.config, TOK, cfg, prime):
        for buf, ch in zip(out, step):
            buf.append(ch)
    return ["".join(b) for b in out]


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**31 - 1, 2**32 + 5, 2**62 + 3])
def test_the_stream_is_torchs_generator(seed):
    g = torch.Generator().manual_seed(seed)
    first = torch.randint(65, (1,), generator=g).item()
    blocks = [torch.rand(32, 3, 1, generator=g).flatten().numpy() for _ in range(2)]
    s = numpy_engine.TorchStream(seed)
    assert s.randint(65) == first
    for want in blocks:
        got = s.uniforms(96)
        assert got.dtype == np.float32 and np.array_equal(got, want)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("cfg", [SampleConfig(length=300, seed=3),
                                 SampleConfig(length=120, seed=2**40 + 1, temperature=0.7, top_k=5, num_samples=3),
                                 SampleConfig(length=100, seed=9, top_p=0.8, num_samples=2),
                                 SampleConfig(length=50, temperature=0, seed=1)],
                         ids=["plain", "top-k-three-samples", "top-p", "argmax"])
def test_the_numpy_engine_writes_the_fast_engines_text(cell, cfg):
    m = model_of(cell)
    fast = generate_text(m, TOK, cfg, prime="AB", engine="fast")
    assert numpy_text(m, cfg, "AB") == fast
    assert generate_text(m, TOK, cfg, prime="AB", engine="numpy") == fast  # the adapter a torch model gets
    assert generate_text(m, TOK, cfg, prime="AB") == fast  # auto on the CPU is the numpy engine
    assert len(set(fast)) == cfg.num_samples or cfg.temperature == 0  # the samples differ: a real draw


def test_without_a_line_break_the_first_character_is_drawn_from_the_same_stream():
    tok = CharTokenizer([chr(65 + i) for i in range(20)])
    torch.manual_seed(1)
    m = CharLSTM(ModelConfig(vocab_size=20, embed=8, hidden=16, layers=1, dropout=0.0)).eval()
    cfg = SampleConfig(length=40, seed=77)
    weights = {k: v.numpy() for k, v in m.state_dict().items()}
    got = "".join(s[0] for s in numpy_engine.generate(weights, m.config, tok, cfg))
    assert [got] == generate_text(m, tok, cfg, engine="fast")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_numpy_engines_loss_is_the_fp32_loss(cell):
    m = model_of(cell)
    ids = torch.randint(TOK.vocab_size, (4000,), generator=torch.Generator().manual_seed(0))
    fast, npy = stepwise_loss(FastEngine, m, ids), stepwise_loss(NumpyStep, m, ids)
    assert abs(fast - npy) < 1e-5  # both fp32: only the order of the sums differs


def test_a_length_shorter_than_a_block_stops_stepping_early():
    m = model_of("lstm")
    assert [len(t) for t in numpy_text(m, SampleConfig(length=1, seed=5))] == [1]
    assert numpy_text(m, SampleConfig(length=1, seed=5)) == [numpy_text(m, SampleConfig(length=40, seed=5))[0][:1]]
    assert numpy_text(m, SampleConfig(length=0, seed=5)) == [""]


def save_with(tmp_path: Path, dtype: torch.dtype) -> Path:
    """A checkpoint whose weights are stored in `dtype`, as slim exports and the starter store them."""
    ck = checkpoint.load(starter.path())
    ck["model"] = {k: v.to(dtype) for k, v in ck["model"].items()}
    ck["extra"] = torch.arange(6).reshape(2, 3)[:, 1]  # a strided view: read lazily, never touched
    path = tmp_path / f"{dtype}.pt"
    checkpoint.save(ck, path)
    return path


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_arrays_load_reads_torchs_numbers(tmp_path, dtype):
    path = save_with(tmp_path, dtype)
    want, got = checkpoint.load(path), arrays.load(path)
    assert set(got["model"]) == set(want["model"])
    for k, v in want["model"].items():
        assert got["model"][k].dtype == np.float32 and np.array_equal(got["model"][k], v.float().numpy()), k
    assert got["extra"].shape == (2,) and got["vocab"] == want["vocab"] and got["model_config"] == want["model_config"]
    assert arrays.Lazy(got["extra"].storage, got["extra"].offset, (2,), got["extra"].stride).read(
        zipfile.ZipFile(path), "archive/").tolist() == [1, 4]


def test_a_pickle_naming_anything_else_is_refused_unrun(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)
    plain, path = tmp_path / "plain.pt", tmp_path / "evil.pt"
    torch.save({"model": 1}, plain)  # a real torch file, its pickle swapped for one that runs a command
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as z:
        for name in src.namelist():
            z.writestr(name, pickle.dumps({"model": Evil()}, protocol=2) if name.endswith("data.pkl")
                       else src.read(name))
    with pytest.raises(arrays.Unreadable, match="posix.system|os.system"):
        arrays.load(path)
    with pytest.raises(CheckpointError, match="refused"):  # the sampler falls back to torch, which names it
        sampler.open_sampler(path, device="cpu")
    assert not marker.exists()


def test_a_file_failing_the_checks_is_a_checkpoint_error_either_way(tmp_path):
    ck = checkpoint.load(starter.path())
    ck["model"]["head.bias"] = torch.full_like(ck["model"]["head.bias"], float("nan"))
    path = tmp_path / "nan.pt"
    torch.save(ck, path)
    with pytest.raises(CheckpointError, match="NaN"):
        arrays.load(path)
    with pytest.raises(CheckpointError, match="NaN"):
        checkpoint.load(path)


def test_damaged_files_are_left_to_torch(tmp_path):
    path = tmp_path / "cut.pt"
    path.write_bytes(starter.path().read_bytes()[:5000])
    with pytest.raises(arrays.Unreadable):
        arrays.load(path)
    with pytest.raises(CheckpointError, match="corrupt"):
        sampler.open_sampler(path, device="cpu")


def test_the_sampler_opens_without_torch_only_where_the_numpy_engine_runs(tmp_path):
    s = sampler.open_sampler("starter", root=tmp_path, device="cpu")
    assert s._model is None and s.engine("auto") == "numpy"
    assert sampler.open_sampler("starter", root=tmp_path, device="cpu", engine="fast")._model is not None
    with pytest.raises(Exception, match="numpy engine runs on the CPU"):
        sampler.open_sampler("starter", root=tmp_path, device="cuda", engine="numpy")
    # a model built on demand from the numpy weights samples the same text
    cfg = SampleConfig(length=60, seed=2)
    assert s.round("", cfg, sampler.RoundOptions(engine="fast")).__iter__() is not None
    assert "".join(s.round("", cfg)) == "".join(s.round("", cfg, sampler.RoundOptions(engine="fast")))


@pytest.mark.parametrize("text,possible", [("cuda: Optional[str] = None\nhip: Optional[str] = None\n"
                                            "xpu: Optional[str] = None\n", False),
                                           ("cuda: Optional[str] = '12.8'\nhip: Optional[str] = None\n"
                                            "xpu: Optional[str] = None\n", True)])
def test_a_cpu_only_torch_build_cannot_find_an_accelerator(tmp_path, monkeypatch, text, possible):
    (tmp_path / "version.py").write_text(text)
    (tmp_path / "__init__.py").write_text("")
    spec = type("Spec", (), {"origin": str(tmp_path / "__init__.py")})()
    monkeypatch.setattr(sampler.importlib.util, "find_spec", lambda name: spec)
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setattr(sampler.sys, "platform", "linux")
    assert sampler._accelerator_possible() is possible


def test_charlstm_sample_on_the_cpu_never_imports_torch(tmp_path):
    code = ("import sys\nfrom charlstm.cli import main\nsys.argv = ['charlstm', 'sample', '-n', '50', '--seed', '3',"
            f" '--root', {str(tmp_path)!r}, '--device', 'cpu']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('torch imported' if 'torch' in sys.modules else 'no torch', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no torch" in done.stderr and "numpy engine" in done.stderr
    fast = subprocess.run([sys.executable, "-m", "charlstm", "sample", "-n", "50", "--seed", "3", "--root",
                           str(tmp_path), "--device", "cpu", "--engine", "fast"], capture_output=True, text=True,
                          timeout=120)
    assert fast.returncode == 0 and fast.stdout == done.stdout and len(done.stdout) == 51
