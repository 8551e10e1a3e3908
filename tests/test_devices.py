"""Which device a run uses and what each device needs: `--device auto` (the Apple GPU for training only
when a timed pass shows it faster, never for sampling), the Apple GPU's random state in checkpoints,
asynchronous copies only to CUDA, the playground taking turns on an accelerator, Accelerate's threads;
and the CPU kinds: the emulation CI uses for an AVX2-only CPU. The Apple GPU's calls are stood in for
where the code makes them (no Mac runs here)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import torch
from conftest import ROOT, TINY_MODEL

from charlstm import devices
from charlstm.errors import CheckpointError
from charlstm.store import checkpoint


# ---- the Apple GPU -----------------------------------------------------------------------------------
class FakeMPS:
    """torch.mps's random-state calls, standing in for the Apple GPU's generator."""

    def __init__(self):
        self.state = torch.arange(16, dtype=torch.uint8)
        self.sets = []

    def get_rng_state(self):
        return self.state.clone()

    def set_rng_state(self, state):
        self.sets.append(state.clone())
        self.state = state.clone()


def test_the_apple_gpus_random_state_is_saved_and_restored_for_an_exact_resume(tmp_path, corpus_file, tiny_config,
                                                                             monkeypatch):
    from charlstm.training.start import resume, train
    fake = FakeMPS()
    monkeypatch.setattr(checkpoint, "mps_available", lambda: True)
    monkeypatch.setattr(torch.mps, "get_rng_state", fake.get_rng_state)
    monkeypatch.setattr(torch.mps, "set_rng_state", fake.set_rng_state)
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=3), run_dir=tmp_path / "r", device="cpu"))
    saved = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert torch.equal(saved["rng"]["mps"], torch.arange(16, dtype=torch.uint8))
    fake.state = torch.zeros(16, dtype=torch.uint8)  # the generator moved on since
    events = list(resume(tmp_path / "r", overrides={"steps": 4}, device="cpu"))
    assert events[-1].step == 4
    assert torch.equal(fake.sets[-1], torch.arange(16, dtype=torch.uint8))  # restored from the checkpoint
    # a damaged state is refused before anything is restored
    saved["rng"]["mps"] = torch.zeros(3, dtype=torch.float32)
    torch.save(saved, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="random state is damaged"):
        checkpoint.validate_training_state(checkpoint.load(tmp_path / "bad.pt"), tmp_path / "bad.pt")


def test_auto_samples_on_the_cpu_and_trains_on_the_apple_gpu_only_when_timed_faster(monkeypatch):
    monkeypatch.setattr(devices, "mps_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto").type == "cpu"  # sampling, eval, serve: never the Apple GPU by default
    times = {"cpu": 1.0, "mps": 0.4}
    dev, why = devices.choose_for_training("auto", lambda d: times[d.type])
    assert dev.type == "mps" and why == "timed: the Apple GPU ran a training pass 2.5x as fast as the CPU"
    times["mps"] = 0.9
    dev, why = devices.choose_for_training("auto", lambda d: times[d.type])
    assert dev.type == "cpu"
    assert why == "timed: the Apple GPU ran a training pass 1.11x as fast as the CPU, kept the CPU"
    untimed = devices.choose_for_training("cpu", lambda d: pytest.fail("timed though the device was named"))
    assert untimed == (torch.device("cpu"), "")


def test_the_device_line_says_what_the_timed_pass_found(tmp_path, corpus_file, tiny_config, monkeypatch):
    from charlstm.training import start
    monkeypatch.setattr(devices, "mps_available", lambda: True)
    monkeypatch.setattr(start, "probe_seconds", lambda d: {"cpu": 1.0, "mps": 2.0}[d.type])
    events = list(start.train([corpus_file], TINY_MODEL, tiny_config(steps=1), run_dir=tmp_path / "r"))
    assert events[0].device == "cpu (timed: the Apple GPU ran a training pass 0.50x as fast as the CPU, kept the CPU)"


def test_the_probe_times_a_real_pass_and_leaves_the_random_state(monkeypatch):
    from charlstm.training.plan import probe_seconds
    before = torch.get_rng_state()
    assert 0 < probe_seconds(torch.device("cpu")) < 30
    assert torch.equal(torch.get_rng_state(), before)


def test_batches_are_copied_asynchronously_only_to_cuda(tmp_path, corpus_file, tiny_config, monkeypatch):
    flags = []
    real_to = torch.Tensor.to

    def recording_to(self, *a, **kw):
        if "non_blocking" in kw:
            flags.append(kw["non_blocking"])
        return real_to(self, *a, **kw)
    monkeypatch.setattr(torch.Tensor, "to", recording_to)
    from charlstm.training.start import train
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=3), run_dir=tmp_path / "r", device="cpu"))
    assert flags and not any(flags)


def test_the_playground_takes_turns_on_an_accelerator_and_not_on_the_cpu():
    import contextlib

    from charlstm.playground.server import device_turn, in_turns
    assert isinstance(device_turn("cpu"), contextlib.nullcontext)
    turn = device_turn("mps")
    held = []

    def blocks():
        for k in range(3):
            held.append(turn.locked())  # computed while holding the device
            yield k
    got = []
    for b in in_turns(blocks(), turn):
        got.append((b, turn.locked()))  # handed on after letting go
    assert got == [(0, False), (1, False), (2, False)] and held == [True, True, True]
    # two generations on one accelerator never compute at once
    busy, overlaps = [], []

    def generation():
        def steps():
            for _ in range(20):
                busy.append(1)
                overlaps.append(len(busy) > 1)
                time.sleep(0.001)
                busy.pop()
                yield
        for _ in in_turns(steps(), turn):
            pass
    threads = [threading.Thread(target=generation) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(overlaps) == 60 and not any(overlaps)


def test_a_mac_samples_on_the_numpy_engine_without_importing_torch_first(monkeypatch):
    """On macOS with a CPU-only torch (what PyPI ships there), `sample` takes the numpy engine: the Apple
    GPU is never auto for one character at a time."""
    from charlstm.sampling import sampler
    monkeypatch.setattr(sampler.sys, "platform", "darwin")
    monkeypatch.delitem(sys.modules, "torch")  # as in a fresh `charlstm sample`, before torch is imported
    try:
        assert sampler._numpy_without_torch("auto", "auto")
    finally:
        monkeypatch.undo()


def test_threads_reach_apples_accelerate(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from charlstm.cli import app
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    got = CliRunner().invoke(app, ["sample", "starter", "-n", "5", "--seed", "1", "--threads", "1"])
    assert got.exit_code == 0, got.output
    assert os.environ["VECLIB_MAXIMUM_THREADS"] == "1" and os.environ["OPENBLAS_NUM_THREADS"] == "1"


# ---- CPU kinds: the emulation CI uses for an AVX2-only CPU really removes the bf16 kernel -------------
def test_the_avx2_emulation_removes_the_bf16_lstm_kernel():
    """`.ci/run` runs the precision and styles tests again under oneDNN's and ATen's documented ISA caps,
    as an AVX2-only CPU sees them. On a bf16 CPU this shows the caps take the kernel away (a test that
    needs it then fails there as it would on a user's laptop); on an AVX2 CPU it has none anyway."""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    code = "from half_kernels import real_kernel_runs; print(real_kernel_runs('bf16'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "tests", env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
