import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL

from charlstm import checkpoint
from charlstm.errors import CheckpointError
from charlstm.train import train

PACKAGE = Path(__file__).resolve().parent.parent / "charlstm"


@pytest.fixture
def run_dir(tmp_path, corpus_file, tiny_config):
    d = tmp_path / "run"
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=6), run_dir=d))
    return d


def test_checkpoint_is_a_plain_dict_loadable_with_weights_only(run_dir):
    raw = torch.load(run_dir / "last.pt", weights_only=True)
    for key in ("format_version", "model_config", "train_config", "vocab", "model", "optimizer", "scheduler",
                "step", "cursor", "epoch", "hidden", "rng", "best_val_loss", "metrics", "corpus",
                "charlstm_version", "torch_version"):
        assert key in raw, key
    assert raw["step"] == 6 and raw["format_version"] == checkpoint.FORMAT_VERSION
    checkpoint.check_plain(raw)


def test_check_plain_rejects_objects():
    class Thing:
        pass
    with pytest.raises(TypeError, match="Thing"):
        checkpoint.check_plain({"a": [1, {"b": Thing()}]})
    with pytest.raises(TypeError):
        checkpoint.check_plain({"v": torch.__version__})  # a str subclass


def test_exception_mid_save_leaves_previous_file_identical(run_dir, monkeypatch):
    path = run_dir / "last.pt"
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"partial bytes")
        raise RuntimeError("boom")
    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RuntimeError, match="boom"):
        checkpoint.save({"x": 1}, path)
    assert path.read_bytes() == before
    assert not [p for p in run_dir.iterdir() if checkpoint.TMP_MARK in p.name]


def test_disk_full_leaves_previous_file_and_no_temp(run_dir, monkeypatch):
    path = run_dir / "last.pt"
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CheckpointError, match="No space left"):
        checkpoint.save(checkpoint.load(path), path)
    assert path.read_bytes() == before
    assert not [p for p in run_dir.iterdir() if checkpoint.TMP_MARK in p.name]


def test_sigkill_between_write_and_rename(run_dir):
    path = run_dir / "last.pt"
    before = path.read_bytes()
    code = (
        "import os, signal, sys; from pathlib import Path; from charlstm import checkpoint\n"
        "p = Path(sys.argv[1]); ck = checkpoint.load(p); ck['step'] = 999\n"
        "os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)\n"
        "checkpoint.save(ck, p)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True)
    assert proc.returncode == -9
    assert path.read_bytes() == before
    assert checkpoint.load(path)["step"] == 6
    orphans = [p for p in run_dir.iterdir() if checkpoint.TMP_MARK in p.name]
    assert len(orphans) == 1
    assert checkpoint.remove_orphans(run_dir) == orphans and orphans[0].exists() is False


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_in_a_checkpoint_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "payload": Evil(marker)}, bad)
    with pytest.raises(CheckpointError, match="refused"):
        checkpoint.load(bad)
    proc = subprocess.run([sys.executable, "-m", "charlstm", "sample", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "refused" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_no_unsafe_loading_anywhere_in_the_package():
    pattern = re.compile(r"weights_only\s*=\s*False|pickle\.loads?\(|\bUnpickler\(")
    offenders = [f"{p.name}:{i}" for p in PACKAGE.glob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []
    loads = [p.name for p in PACKAGE.glob("*.py") if "torch.load(" in p.read_text()]
    assert loads == ["checkpoint.py"]  # one loader


def corrupt(run_dir, edit):
    ck = torch.load(run_dir / "last.pt", weights_only=True)
    edit(ck)
    out = run_dir / "edited.pt"
    torch.save(ck, out)
    return out


@pytest.mark.parametrize("edit, message", [
    (lambda ck: ck.update(format_version=99), "format version 99"),
    (lambda ck: ck["model"].update({"head.weight": torch.zeros(3, 3)}), "head.weight has shape"),
    (lambda ck: ck["model"]["embed.weight"].fill_(float("nan")), "NaN or infinite"),
    (lambda ck: ck.update(vocab={"chars": "ab", "normalization": "NFC"}), "vocabulary holds 2"),
    (lambda ck: ck["model"].pop("head.bias"), "missing: head.bias"),
    (lambda ck: ck.pop("model"), "not a charlstm checkpoint"),
])
def test_validation_errors(run_dir, edit, message):
    with pytest.raises(CheckpointError, match=re.escape(message)):
        checkpoint.load(corrupt(run_dir, edit))


def test_checkpoint_from_before_weight_drop_loads_without_it(run_dir):
    """Checkpoints written before --weight-drop existed have no such field: they load as 0."""
    old = corrupt(run_dir, lambda ck: ck["model_config"].pop("weight_drop"))
    ck = checkpoint.load(old)
    assert "weight_drop" not in ck["model_config"]
    model, _ = checkpoint.build_model(ck)
    assert model.config.weight_drop == 0.0
    assert torch.equal(model.head.weight, ck["model"]["head.weight"])


def test_truncated_and_garbage_files(run_dir):
    data = (run_dir / "last.pt").read_bytes()
    (run_dir / "cut.pt").write_bytes(data[: len(data) // 2])
    (run_dir / "junk.pt").write_bytes(b"not a checkpoint at all")
    for name in ("cut.pt", "junk.pt"):
        with pytest.raises(CheckpointError, match="corrupt"):
            checkpoint.load(run_dir / name)


def test_fallback_to_newest_good_checkpoint(run_dir):
    (run_dir / "last.pt").write_bytes(b"broken")
    os.utime(run_dir / "best.pt", (1, 1))
    ck, path, problems = checkpoint.load_newest_good(run_dir)
    assert path.name == "best.pt" and len(problems) == 1 and "last.pt" in problems[0]


OLD = Path(__file__).parent / "data" / "checkpoint-1391657.pt"


def test_checkpoints_written_before_the_layout_change_still_load():
    # written by charlstm at commit 1391657 (before the cli/ package and runs.py): a 1x12 LSTM after
    # 6 steps; the text below is what that version's `charlstm sample --temp 0.8 --seed 3 -n 40
    # --prime "The "` printed for it
    from charlstm.sample import SampleConfig, generate_text
    ck = checkpoint.load(OLD)
    assert ck["step"] == 6 and ck["charlstm_version"] == "0.1.0"
    model, tok = checkpoint.build_model(ck)
    text = generate_text(model, tok, SampleConfig(length=40, temperature=0.8, seed=3), prime="The ")[0]
    assert text == "\n,b\nh rpmvgr.e gTwtvnTw\nTTbm,,ar.  ae\nah"
