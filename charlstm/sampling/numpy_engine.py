"""The numpy engine (`--engine numpy`, what `auto` picks on the CPU): sampling without torch.

The same fp32 arithmetic as engines.FastEngine (see there for the LSTM, GRU and RNN steps and the
folded first-layer table), written over numpy arrays. At batch 1 a step is a few matrix-vector
products, and numpy's BLAS ran them several times faster than torch's on the CPUs measured
(bench/RESULTS.md, "Sampling without torch, and start-up"); with the weights read by
store/arrays.py, `charlstm sample` then never imports torch.

The random stream is torch's own: a CPU torch.Generator is a Mersenne Twister seeded with the low 32
bits of the seed, and torch.rand's float32 is the low 24 bits of one 32-bit draw times 2**-24;
numpy's legacy MT19937 seeding is the same twister. `TorchStream` draws those numbers a block (BLOCK
characters) at a time, as generate.generate draws torch.rand, and `pick` inverts the same cumulative
sums (accumulated in float64, as torch's CPU cumsum does), so this engine writes the fast engine's
text for a seed (tests/sampling/test_numpy_engine.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import numpy as np

from ..assets.sampling_filters import probabilities
from ..config import ModelConfig, SampleConfig
from ..tokenizer import CharTokenizer

BLOCK = 32  # characters per block: uniforms are drawn, and a CUDA graph replayed, per block (generate.py)
_F32 = np.float32


class TorchStream:
    """torch.Generator(cpu).manual_seed(seed)'s numbers, from numpy: `randint` as torch.randint(n, (1,)),
    `uniforms(n)` as torch.rand(n) in float32."""

    def __init__(self, seed: int | None):
        seed = secrets.randbits(63) if seed is None else seed
        self._bits = np.random.RandomState(seed & 0xFFFFFFFF)._bit_generator

    def randint(self, n: int) -> int:
        return int(self._bits.random_raw(1)[0] % n)

    def uniforms(self, n: int) -> np.ndarray:
        return (self._bits.random_raw(n) & 0xFFFFFF).astype(_F32) * _F32(2.0 ** -24)


class NumpyEngine:
    """ids[B] -> logits[B, V], advancing the state it holds; fp32 throughout."""

    def __init__(self, weights: dict[str, np.ndarray], config: ModelConfig, batch: int):
        c = self.config = config
        w = lambda name, l: np.asarray(weights[f"rnn.{name}_l{l}"], dtype=_F32)  # noqa: E731
        self.table = np.asarray(weights["embed.weight"], _F32) @ w("weight_ih", 0).T + self._bias(w, 0)
        self.w_ih = [None] + [np.ascontiguousarray(w("weight_ih", l).T) for l in range(1, c.layers)]
        self.b = [None] + [self._bias(w, l) for l in range(1, c.layers)]
        self.w_hh = [np.ascontiguousarray(w("weight_hh", l).T) for l in range(c.layers)]
        self.b_hn = [w("bias_hh", l)[2 * c.hidden:] for l in range(c.layers)] if c.cell == "gru" else None
        self.w_out = np.ascontiguousarray(np.asarray(weights["head.weight"], _F32).T)
        self.b_out = np.asarray(weights["head.bias"], _F32)
        self.h = np.zeros((c.layers, batch, c.hidden), _F32)
        self.c = np.zeros_like(self.h) if c.cell == "lstm" else None

    def _bias(self, w, l: int) -> np.ndarray:
        """Both biases folded into the input term; GRU keeps b_hn apart (it sits inside r * (.))."""
        b_hh = w("bias_hh", l).copy()
        if self.config.cell == "gru":
            b_hh[2 * self.config.hidden:] = 0
        return w("bias_ih", l) + b_hh

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        H, x = self.config.hidden, None
        for l in range(self.config.layers):
            pre = self.table[ids] if l == 0 else x @ self.w_ih[l] + self.b[l]  # B, G*H
            h = self.h[l]
            if self.config.cell == "lstm":
                gates = pre + h @ self.w_hh[l]
                s = 1 / (1 + np.exp(-gates))
                self.c[l] = s[:, H:2 * H] * self.c[l] + s[:, :H] * np.tanh(gates[:, 2 * H:3 * H])
                self.h[l] = s[:, 3 * H:] * np.tanh(self.c[l])
            elif self.config.cell == "gru":
                hh = h @ self.w_hh[l]
                rz = 1 / (1 + np.exp(-(pre[:, :2 * H] + hh[:, :2 * H])))
                n = np.tanh(pre[:, 2 * H:] + rz[:, :H] * (hh[:, 2 * H:] + self.b_hn[l]))
                self.h[l] = n + rz[:, H:] * (h - n)  # (1 - z) * n + z * h
            else:
                self.h[l] = np.tanh(pre + h @ self.w_hh[l])
            x = self.h[l]
        return x @ self.w_out + self.b_out


def pick(logits: np.ndarray, cfg: SampleConfig, u: np.ndarray) -> np.ndarray:
    """generate.pick in numpy: argmax at temperature 0, else the inverse CDF at uniforms u[B]."""
    if cfg.temperature == 0:
        return logits.argmax(-1)
    with np.errstate(all="ignore"):
        probs = probabilities(logits, cfg.temperature, cfg.top_k, cfg.top_p, cfg.min_p)  # assets/sampling_filters.py
        cdf = probs.cumsum(-1, dtype=np.float64).astype(_F32)
        at = u * cdf[:, -1]
    return np.minimum([np.searchsorted(row, a, side="right") for row, a in zip(cdf, at)], probs.shape[-1] - 1)


def generate(weights: dict[str, np.ndarray], config: ModelConfig, tokenizer: CharTokenizer, cfg: SampleConfig,
             prime: str = "", skip_unknown: bool = False) -> Iterator[list[str]]:
    """generate.generate over numpy weights: for each new position, one character per sample; the
    prime is fed first and not yielded. Each character is yielded as soon as it is picked."""
    stream, B = TorchStream(cfg.seed), cfg.num_samples
    ids = tokenizer.encode(prime, skip_unknown=skip_unknown) if prime else []
    if not ids:
        start = tokenizer.stoi.get("\n")
        ids = [start if start is not None else stream.randint(tokenizer.vocab_size)]
    engine = NumpyEngine(weights, config, B)
    for i in ids:
        logits = engine(np.full(B, i))
    chars = tokenizer.chars
    for start in range(0, cfg.length, BLOCK):
        us = stream.uniforms(BLOCK * B).reshape(BLOCK, B)
        for k in range(min(BLOCK, cfg.length - start)):
            nxt = pick(logits, cfg, us[k])
            yield [chars[j] for j in nxt]
            if start + k + 1 < cfg.length:
                logits = engine(nxt)
