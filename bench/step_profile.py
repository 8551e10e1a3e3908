"""Where a batch-1 sampling step goes: each engine's whole step against its weight products alone.

Builds the 2x512 model (embed 128, 65 characters, random weights: timing does not depend on
training), then for the fp32 fast engine and the fp16-weight engine, twice each, times 2,000
steps of `__call__` and 2,000 rounds of its four products (`input_term`, `recurrent` for both
layers, `output`) on their own. The difference is the element-wise work and Python of a step.

    python bench/step_profile.py
"""

from __future__ import annotations

import time

import machine
import torch

from charlstm.config import ModelConfig
from charlstm.model import CharLSTM
from charlstm.sampling.engines import FastEngine, HalfWeightEngine


def per_call_us(fn, n: int = 2000) -> float:
    for _ in range(100):
        fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def main() -> None:
    print(machine.line())
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=65, embed=128, hidden=512, layers=2)).eval()
    ids, x = torch.zeros(1, dtype=torch.long), torch.randn(1, 512)
    for cls in (FastEngine, HalfWeightEngine) * 2:
        s = cls(model, model.init_state(1))
        step = per_call_us(lambda s=s: s(ids))
        products = per_call_us(lambda s=s: (s.input_term(1, x), s.recurrent(0, x), s.recurrent(1, x), s.output(x)))
        print(f"{cls.__name__:<18} step {step:6.0f} us   its 4 products alone {products:6.0f} us   "
              f"rest {step - products:5.0f} us")


if __name__ == "__main__":
    main()
