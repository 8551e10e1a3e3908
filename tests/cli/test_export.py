"""`charlstm export` through CliRunner: each format writes what it says and tells where; bad input
is one line and exit 1 (a usage error: exit 2), never a traceback; a missing optional extra is one
line naming it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.store import checkpoint


def invoke(*args, **kw):
    return CliRunner().invoke(app, ["export", *[str(a) for a in args]], catch_exceptions=True, **kw)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    import torch

    from charlstm.config import ModelConfig, TrainConfig
    from charlstm.model import CharLSTM
    from charlstm.tokenizer import CharTokenizer
    torch.manual_seed(0)
    tok = CharTokenizer.from_text("a cat, a hat.\n")
    model = CharLSTM(ModelConfig(vocab_size=tok.vocab_size, cell="lstm", embed=4, hidden=8, layers=1))
    ckpt = {"format_version": checkpoint.FORMAT_VERSION, "model_config": model.config.to_dict(),
            "train_config": TrainConfig().to_dict(), "vocab": tok.to_dict(), "model": dict(model.state_dict()),
            "run_name": "tiny", "corpus": {"paths": ["c.txt"], "options": {}, "tokens": 14, "checksum": 1}}
    d = tmp_path_factory.mktemp("export") / "checkpoints"
    checkpoint.save(ckpt, d / "tiny" / "best.pt")
    return d


def one_line_error(r, code: int = 1) -> str:
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_web_export_defaults_to_a_folder_named_for_the_run(root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke("tiny", "--root", root, "--format", "web")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "tiny-web").iterdir()) == ["index.html", "model.js", "page.js", "rnn.js"]
    assert "tiny-web/index.html" in r.stderr and r.stdout == ""


def test_onnx_export_writes_the_model_and_the_sampler_beside_it(root, tmp_path):
    import onnxruntime  # noqa: F401  (declared test dependencies)
    import onnxscript  # noqa: F401
    out = tmp_path / "m.onnx"
    r = invoke(root / "tiny", "-o", out)  # a run folder; onnx is the default format
    assert r.exit_code == 0, r.output
    assert out.is_file() and (tmp_path / "sample_onnx.py").is_file() and (tmp_path / "sampling_filters.py").is_file()
    assert "sample_onnx.py" in r.stderr and "onnxruntime matches torch" in r.stderr


def test_missing_extra_is_one_line_naming_it(root, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # `import onnxscript` now raises ImportError
    r = invoke("tiny", "--root", root, "-o", tmp_path / "m.onnx")
    assert one_line_error(r) == ("error: charlstm export --format onnx needs the optional 'export' extra: "
                                 "pip install 'charlstm[export]'")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, code, message", [
    (["nosuchrun", "--format", "web"], 1, "nosuchrun"),
    (["tiny", "--format", "zip"], 2, None),
    (["tiny", "--format", "web", "-o", "{tmp}/missing/dir"], 1, "does not exist"),
    (["tiny", "--format", "onnx", "-o", "{tmp}/missing/m.onnx"], 1, "does not exist"),
    (["tiny", "--format", "web", "-o", "{tmp}/afile"], 1, "is a file"),
    (["tiny", "--format", "onnx", "-o", "{tmp}"], 1, "is a folder"),
    (["tiny", "--format", "web", "-o", "/proc/charlstm-web"], 1, "/proc/charlstm-web"),
    (["tiny", "--format", "onnx", "--half"], 1, "--half applies to --format pt only"),
])
def test_bad_input_is_one_line(root, tmp_path, args, code, message):
    (tmp_path / "afile").write_text("x")
    r = invoke(*[a.replace("{tmp}", str(tmp_path)) for a in args], "--root", root)
    if code == 2:
        assert r.exit_code == 2 and "Traceback" not in r.output and "zip" in r.output
        return
    assert message in one_line_error(r)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_pt_export_reports_both_sizes(root, tmp_path):
    out = tmp_path / "slim.pt"
    r = invoke("tiny", "--root", root, "--format", "pt", "-o", out, "--half")
    assert r.exit_code == 0, r.output
    assert out.is_file() and str(out) in r.stderr and "best.pt" in r.stderr
    assert checkpoint.load(out)["vocab"] == checkpoint.load(root / "tiny" / "best.pt")["vocab"]
    assert Path(out).stat().st_size < (root / "tiny" / "best.pt").stat().st_size
