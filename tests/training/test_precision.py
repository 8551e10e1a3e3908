import re
import time

import pytest
import torch
from conftest import TINY_MODEL
from half_kernels import half_recurrent

from charlstm.errors import ConfigError
from charlstm.events import Started, Step
from charlstm.training.precision import resolve_precision
from charlstm.training.start import train

CPU = torch.device("cpu")


def fake_pass(seconds):
    return lambda precision: time.sleep(seconds[precision])


def test_explicit_choices_and_errors():
    assert resolve_precision("fp32", CPU)[0] == "fp32"
    assert resolve_precision("bf16", CPU)[0] == "bf16"
    with pytest.raises(ConfigError, match="--precision"):
        resolve_precision("fp8", CPU)


def no_bf16_kernel(precision):
    if precision == "bf16":
        raise RuntimeError("could not create a primitive descriptor for the LSTM forward propagation primitive.\nmore")


@pytest.mark.parametrize("times, expected", [
    ({"fp32": 0.03, "bf16": 0.01}, "bf16"),   # 3x faster: worth it
    ({"fp32": 0.011, "bf16": 0.01}, "fp32"),  # barely faster: keep full precision
])
def test_auto_measures_before_choosing_bf16(times, expected):
    # every CPU is timed, with or without AMX (AVX-512 bf16 alone made a step 1.8x faster on one)
    got, why = resolve_precision("auto", CPU, fake_pass(times))
    assert got == expected, why
    ratio = float(re.search(r"(\d+\.\d)x faster", why).group(1))  # sleeps: the ratio is near, not exact
    assert ratio == pytest.approx(times["fp32"] / times["bf16"], rel=0.2)


def test_bf16_kernels_missing_on_this_cpu():
    got, why = resolve_precision("auto", CPU, no_bf16_kernel)
    assert got == "fp32" and why == ("fp32 (bf16 does not run on this cpu: it has no bf16 LSTM kernel; oneDNN "
                                     "provides one only on CPUs with AVX-512)")  # our words, not oneDNN's
    with pytest.raises(ConfigError, match="^--precision bf16 does not run on this cpu .*; use fp32 or auto$"):
        resolve_precision("bf16", CPU, no_bf16_kernel)


def test_bf16_training_matches_fp32_closely(tmp_path, corpus_file, tiny_config, monkeypatch):
    half_recurrent(monkeypatch, "bf16")  # this CPU's bf16 LSTM kernel, or torch's native one where it has none

    def losses(precision):
        ev = train([corpus_file], TINY_MODEL, tiny_config(steps=15, precision=precision), run_dir=tmp_path / precision)
        return [e.loss for e in ev if isinstance(e, Step)]
    a, b = losses("fp32"), losses("bf16")
    assert a != b  # bf16 really ran
    assert a[-1] == pytest.approx(b[-1], rel=0.05)


def test_auto_is_resolved_and_stored(tmp_path, corpus_file, tiny_config):
    ev = list(train([corpus_file], TINY_MODEL, tiny_config(steps=3, precision="auto"), run_dir=tmp_path / "r"))
    started = ev[0]
    assert isinstance(started, Started) and started.train_config["precision"] in ("fp32", "bf16")
    assert any(n.startswith("precision: ") for n in started.notes)
    saved = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert saved["train_config"]["precision"] == started.train_config["precision"]


def test_fp16_trains_with_loss_scaling_and_resumes(tmp_path, corpus_file, tiny_config, monkeypatch):
    # fp16 is refused on the CPU (oneDNN's LSTM has no fp16 kernel); to exercise the loss-scaling path
    # here, the precision choice is forced and the native (non-oneDNN) kernels run, which keep the
    # LSTM in fp32 under autocast while the output layer runs in fp16
    import charlstm.training.plan as train_mod
    from charlstm.training.start import resume
    with pytest.raises(ConfigError, match="fp16 is for CUDA"):
        resolve_precision("fp16", CPU)
    ref = [e.loss for e in train([corpus_file], TINY_MODEL, tiny_config(steps=12), run_dir=tmp_path / "f")
           if isinstance(e, Step)]
    monkeypatch.setattr(train_mod, "resolve_precision", lambda *a: ("fp16", "fp16 (forced by the test)"))
    with torch.backends.mkldnn.flags(enabled=False):
        ev = list(train([corpus_file], TINY_MODEL, tiny_config(steps=12, precision="fp16"), run_dir=tmp_path / "h"))
        half = [e.loss for e in ev if isinstance(e, Step)]
        assert half != ref and half[-1] == pytest.approx(ref[-1], rel=0.05)
        saved = torch.load(tmp_path / "h" / "last.pt", weights_only=True)
        assert saved["train_config"]["precision"] == "fp16" and saved["scaler"]["scale"] == 65536.0
        more = list(resume(tmp_path / "h", overrides={"steps": 14, "precision": "fp16"}))
        assert [e.step for e in more if isinstance(e, Step)] == [13, 14]


def test_auto_tries_fp16_on_a_gpu_without_bf16(monkeypatch):
    import charlstm.training.precision as prec
    monkeypatch.setattr(prec, "bf16_capable", lambda d: (False, "this GPU has no bf16 support"))
    monkeypatch.setattr(prec, "_sync", lambda d: None)
    got, why = resolve_precision("auto", torch.device("cuda"), fake_pass({"fp32": 0.03, "fp16": 0.01}))
    assert got == "fp16" and "fp16 autocast" in why
    got, _ = resolve_precision("auto", CPU, fake_pass({"fp32": 0.03, "fp16": 0.01}))
    assert got == "fp32"  # the CPU (patched: no bf16) never tries fp16
