"""Break charlstm on purpose and run the CI guard that should catch it (tests/test_guards.py).

Each mode patches one thing in this process, then runs one guard with its measurement printed:

  forget-bias    the LSTM starts with a forget-gate bias of 1 (a default charlstm dropped) -> quality
  slow-train     every training step makes one wasted forward pass (~1.3-1.5x the step)  -> training speed
  slow-sample    every sampling step is computed twice (~2x the step)                     -> sampling speed
  none           nothing patched: all three guards

A guard that still passes under its mode does not guard. Exit code: pytest's (1 when a guard failed).

    python bench/guard_mutations.py forget-bias
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
GUARD = {"forget-bias": "loss_bound", "slow-train": "training", "slow-sample": "sampling", "none": ""}


def forget_bias() -> None:
    import charlstm.model as model
    init = model.CharLSTM.__init__

    def patched(self, config):
        init(self, config)
        if config.cell == "lstm":
            with torch.no_grad():
                for name, p in self.rnn.named_parameters():
                    if name.startswith("bias_hh"):
                        p[config.hidden:2 * config.hidden] = 1.0  # gate order i, f, g, o
    model.CharLSTM.__init__ = patched


def slow_train() -> None:
    import charlstm.training.loop as loop
    compute = loop.compute_loss

    def patched(model, x, y, state, precision="fp32", style=None):
        with torch.no_grad():
            model(x, state, style)
        return compute(model, x, y, state, precision, style)
    loop.compute_loss = patched


def slow_sample() -> None:
    from charlstm.sampling.engines import FastEngine
    step = FastEngine.__call__

    def patched(self, ids):
        step(self, ids)
        return step(self, ids)
    FastEngine.__call__ = patched


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=list(GUARD))
    mode = ap.parse_args().mode
    {"forget-bias": forget_bias, "slow-train": slow_train, "slow-sample": slow_sample}.get(mode, lambda: None)()
    args = ["-q", "-s", "-p", "no:cacheprovider", str(REPO / "tests" / "test_guards.py")]
    sys.exit(pytest.main(args + (["-k", GUARD[mode]] if GUARD[mode] else [])))


if __name__ == "__main__":
    main()
