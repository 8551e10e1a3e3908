"""A checkpoint's format and its checks: a plain dict, validated on load (shapes, configs, finite
weights, the training state), crafted or damaged files refused in one line, old files still read."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import linux_only

from charlstm.errors import CheckpointError
from charlstm.store import checkpoint


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


OLD = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoint-1391657.pt"


def test_checkpoints_written_before_the_layout_change_still_load():
    # written by charlstm at commit 1391657 (before the cli/ package and runs.py): a 1x12 LSTM after
    # 6 steps; the text below is what that version's `charlstm sample --temp 0.8 --seed 3 -n 40
    # --prime "The "` printed for it
    from charlstm.sampling.generate import SampleConfig, generate_text
    ck = checkpoint.load(OLD)
    assert ck["step"] == 6 and ck["charlstm_version"] == "0.1.0"
    model, tok = checkpoint.build_model(ck)
    text = generate_text(model, tok, SampleConfig(length=40, temperature=0.8, seed=3), prime="The ")[0]
    assert text == "\n,b\nh rpmvgr.e gTwtvnTw\nTTbm,,ar.  ae\nah"


def child(code: str, *args) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python (its own memory, limits and signals), text output captured."""
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)


def _crafted(ck, change):
    import copy
    ck = copy.deepcopy(ck)
    change(ck)
    return ck


CRAFTED = {
    "huge hidden": (lambda c: c["model_config"].update(hidden=10**9), "parameters or more; charlstm stops at"),
    "hidden just under the bound": (lambda c: c["model_config"].update(hidden=8000), "weights do not match|has shape"),
    "hidden as text": (lambda c: c["model_config"].update(hidden="12"), "must be a finite int"),
    "empty train config": (lambda c: c.update(train_config={}), "holds no training config"),
    "train config with inf lr": (lambda c: c["train_config"].update(lr=float("inf")), "--lr must be a finite float"),
    "no corpus": (lambda c: c.pop("corpus"), "corpus record"),
    "step as text": (lambda c: c.update(step="many"), "step is 'many', not a count"),
    "negative cursor": (lambda c: c.update(cursor=-1), "cursor is -1"),
    "best val NaN": (lambda c: c.update(best_val_loss=float("nan")), "best_val_loss is nan"),
    "metrics not a list": (lambda c: c.update(metrics="x"), "metrics are not a list"),
    "vocabulary too short": (lambda c: c["vocab"].update(chars=["a"]), "vocabulary|characters"),
    "weights not a dict": (lambda c: c.update(model=[1, 2]), "not a state dict"),
}


@linux_only("reads the load's peak memory from /proc")
@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_checkpoints_are_one_clear_error_before_anything_is_allocated(run_dir, tmp_path, case):
    change, message = CRAFTED[case]
    bad = tmp_path / "crafted.pt"
    torch.save(_crafted(checkpoint.load(run_dir / "last.pt"), change), bad)
    code = ("import sys, time; from charlstm.store import checkpoint\n"
            "from charlstm.errors import CheckpointError\n"
            # VmHWM: this process's peak resident memory (ru_maxrss would carry the forking parent's over exec)
            "def mb(key):\n"
            "    return int(next(x for x in open('/proc/self/status') if x.startswith(key)).split()[1]) / 1024\n"
            "imported, before = mb('VmHWM'), mb('VmRSS')\n"
            "open('/proc/self/clear_refs', 'w').write('5')\n"  # from here VmHWM is the peak of the load alone
            "t = time.perf_counter()\n"
            "try:\n    checkpoint.load(sys.argv[1])\nexcept CheckpointError as e:\n    msg = str(e)\n"
            "seconds, peak = time.perf_counter() - t, mb('VmHWM')\n"
            "print(seconds, max(imported, peak), peak - before)\n"
            "print(msg)\n")
    proc = child(code, bad)
    assert proc.returncode == 0, proc.stderr
    timing, msg = proc.stdout.splitlines()
    seconds, peak_mb, grown_mb = map(float, timing.split())
    assert re.search(message, msg), msg
    assert seconds < 1.0 and peak_mb < 500
    # bench/RESULTS.md: each refusal takes ~0.02 s and its peak is torch's import; measured here 0.03-0.05 s
    # and under 6 MB over the memory held before the load (the hidden=8000 file would allocate ~1 GB)
    assert seconds < 0.25, seconds
    assert grown_mb < 50, grown_mb


RESUME_ONLY = {
    "hidden state of the wrong shape": lambda c: c["hidden"].__setitem__(0, c["hidden"][0][:, :1]),
    "optimizer group removed": lambda c: c["optimizer"]["param_groups"].pop(),
    "optimizer lr NaN": lambda c: c["optimizer"]["param_groups"][0].update(lr=float("nan")),
    "random state cut": lambda c: c["rng"].update(python=c["rng"]["python"][:10]),
}


@pytest.mark.parametrize("case", sorted(RESUME_ONLY))
def test_training_state_is_checked_before_resume_uses_it(run_dir, case):
    ck = _crafted(checkpoint.load(run_dir / "last.pt"), RESUME_ONLY[case])
    checkpoint.validate(ck, "x.pt")  # still fine to sample from
    with pytest.raises(CheckpointError, match="it cannot be resumed"):
        checkpoint.validate_training_state(ck, "x.pt")
