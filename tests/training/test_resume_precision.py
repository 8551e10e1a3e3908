"""Resume in every precision, on every CPU: a run trained in fp32, bf16 or fp16 continues, exactly
where the precision is deterministic; a checkpoint whose carried state an earlier release saved in
half precision resumes too; a precision that cannot run here goes on in fp32, or is refused when
asked for by name. Half-precision kernels this CPU lacks are supplied by half_kernels (the one
boundary replaced), so every case runs on AVX2 hosts too."""

import pytest
import torch
from conftest import TINY_MODEL
from half_kernels import half_recurrent, no_half_kernel
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.errors import CheckpointError, ConfigError
from charlstm.events import Step
from charlstm.store import checkpoint
from charlstm.training import plan
from charlstm.training.start import resume, train

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def force_fp16(monkeypatch):
    """fp16 is refused on the CPU (no fp16 LSTM kernel there): the choice is forced, as on a GPU."""
    real = plan.resolve_precision

    def resolve(requested, device, run_pass=None):
        return ("fp16", "fp16 (forced by the test)") if requested == "fp16" else real(requested, device, run_pass)
    monkeypatch.setattr(plan, "resolve_precision", resolve)
    monkeypatch.setattr(plan, "unavailable", lambda precision, device, run_pass=None: None)


def losses(events):
    return [e.loss for e in events if isinstance(e, Step)]


def weights(path):
    return torch.load(path, weights_only=True)["model"]


def stop_after(k):
    seen = []

    def should_stop():
        return len(seen) >= k
    return seen, should_stop


def trained_until(k, corpus_file, cfg, run_dir):
    seen, should_stop = stop_after(k)
    events = []
    for e in train([corpus_file], TINY_MODEL, cfg, run_dir=run_dir, should_stop=should_stop):
        events.append(e)
        if isinstance(e, Step):
            seen.append(e)
    assert events[-1].reason == "interrupted" and events[-1].step == k
    return events


# fp32: tests/training/test_train.py, mid-epoch and on a boundary
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_interrupted_and_resumed_run_equals_straight_run(tmp_path, corpus_file, tiny_config, monkeypatch, precision):
    if precision == "fp16":
        force_fp16(monkeypatch)
    kernel = half_recurrent(monkeypatch, precision)
    cfg = tiny_config(steps=14, eval_every=5, precision=precision)
    straight = list(train([corpus_file], TINY_MODEL, cfg, run_dir=tmp_path / "a"))
    assert straight[0].train_config["precision"] == precision, straight[0].notes
    first = trained_until(6, corpus_file, cfg, tmp_path / "b")
    saved = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert saved["train_config"]["precision"] == precision
    for h in saved["hidden"]:  # saved in fp32, holding what the half-precision kernel made
        assert h.dtype == torch.float32
        assert torch.equal(h.to(DTYPES[precision]).float(), h) and h.abs().sum() > 0, kernel
    second = list(resume(tmp_path / "b"))
    assert second[0].resumed_from == 6
    assert f"precision: {precision} (as the run trained)" in second[0].notes
    assert losses(first) + losses(second) == losses(straight)  # bit for bit
    a, b = weights(tmp_path / "a" / "last.pt"), weights(tmp_path / "b" / "last.pt")
    assert all(torch.equal(a[n], b[n]) for n in a)


def half_state_checkpoint(tmp_path, corpus_file, tiny_config, precision, steps=6):
    """A run's last.pt as an earlier release wrote it for a half precision run: the training config
    says `precision`, and the carried state is in that precision (values rounded to it)."""
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=steps), run_dir=tmp_path / "old"))
    path = tmp_path / "old" / "last.pt"
    saved = torch.load(path, weights_only=True)
    saved["train_config"]["precision"] = precision
    saved["hidden"] = [h.to(DTYPES[precision]) for h in saved["hidden"]]
    checkpoint.save(saved, path)
    return path


def test_a_checkpoint_holding_a_bf16_state_resumes(tmp_path, corpus_file, tiny_config, monkeypatch):
    path = half_state_checkpoint(tmp_path, corpus_file, tiny_config, "bf16")
    checkpoint.validate_training_state(torch.load(path, weights_only=True), path)
    half_recurrent(monkeypatch, "bf16")
    events = list(resume(tmp_path / "old", overrides={"steps": 9}))
    assert "precision: bf16 (as the run trained)" in events[0].notes
    assert [e.step for e in events if isinstance(e, Step)] == [7, 8, 9] and events[-1].reason == "done"
    assert all(h.dtype == torch.float32 for h in torch.load(path, weights_only=True)["hidden"])


def test_a_bf16_run_goes_on_in_fp32_where_bf16_cannot_run(tmp_path, corpus_file, tiny_config, monkeypatch):
    path = half_state_checkpoint(tmp_path, corpus_file, tiny_config, "bf16")
    no_half_kernel(monkeypatch)
    # asked for by name, it is refused in one line that names the fix
    ours = "it has no bf16 LSTM kernel; oneDNN provides one only on CPUs with AVX-512"
    refusal = r"^--precision bf16 does not run on this cpu \(" + ours + r"\); use fp32 or auto$"
    with pytest.raises(ConfigError, match=refusal):
        list(resume(tmp_path / "old", overrides={"steps": 8, "precision": "bf16"}))
    events = list(resume(tmp_path / "old", overrides={"steps": 8}))
    assert ("precision: fp32: the run trained in bf16, which does not run on this cpu (" + ours
            + "); it goes on in fp32") in events[0].notes
    assert events[0].train_config["precision"] == "fp32" and events[-1].reason == "done" and events[-1].step == 8
    assert torch.load(path, weights_only=True)["train_config"]["precision"] == "fp32"


def test_an_fp16_gpu_run_goes_on_in_fp32_on_the_cpu(tmp_path, corpus_file, tiny_config):
    """fp16 with loss scaling is a GPU precision: on the CPU the run continues in fp32, its loss scale
    set aside (a disabled scaler), its fp16 state read exactly."""
    path = half_state_checkpoint(tmp_path, corpus_file, tiny_config, "fp16")
    saved = torch.load(path, weights_only=True)
    saved["scaler"] = {"scale": 32768.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                       "_growth_tracker": 5}
    checkpoint.save(saved, path)
    events = list(resume(tmp_path / "old", overrides={"steps": 8}))
    why = "precision: fp32: the run trained in fp16, which is for CUDA GPUs"
    assert any(n.startswith(why) for n in events[0].notes)
    assert [e.step for e in events if isinstance(e, Step)] == [7, 8]


def test_a_state_of_another_kind_is_still_refused(tmp_path, corpus_file, tiny_config):
    path = half_state_checkpoint(tmp_path, corpus_file, tiny_config, "bf16")
    saved = torch.load(path, weights_only=True)
    saved["hidden"] = [h.to(torch.int32) for h in saved["hidden"]]
    with pytest.raises(CheckpointError, match="carried hidden state is not 2 x"):
        checkpoint.validate_training_state(saved, path)
    saved["hidden"] = [h.to(torch.float64) for h in saved["hidden"]]
    with pytest.raises(CheckpointError, match="carried hidden state is not 2 x"):
        checkpoint.validate_training_state(saved, path)


def test_cli_train_in_bf16_then_resume(tmp_path, corpus_file, monkeypatch):
    """The report that opened this: train in bf16 through the CLI, then `charlstm resume` with a new budget."""
    half_recurrent(monkeypatch, "bf16")
    root = tmp_path / "ck"
    common = ["--root", str(root), "--plain"]
    r = CliRunner().invoke(app, ["train", str(corpus_file), "--name", "b", "--precision", "bf16", "--steps", "40",
                                 "--hidden", "24", "--embed", "8", "--layers", "2", "-b", "4", "--seq-len", "16",
                                 "--eval-every", "20", "--sample-every", "0", *common])
    assert r.exit_code == 0, r.output
    assert torch.load(root / "b" / "last.pt", weights_only=True)["step"] == 40
    r = CliRunner().invoke(app, ["resume", "--steps", "60", *common])
    assert r.exit_code == 0, r.output
    assert "precision: bf16 (as the run trained)" in r.stderr
    saved = torch.load(root / "b" / "last.pt", weights_only=True)
    assert saved["step"] == 60 and saved["train_config"]["precision"] == "bf16"
