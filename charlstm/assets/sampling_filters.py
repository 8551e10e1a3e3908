"""The sampling filters in numpy, once: temperature, then top-k and min-p, then top-p (nucleus). The numpy engine
(`charlstm sample` on the CPU) and the ONNX sampler (sample_onnx.py, copied beside an exported .onnx
with this file) both use it; torch's own is sampling/generate.py, the web page's assets/web/rnn.js.
Needs numpy only. tests/test_known_answers.py holds every runtime's filter to one worked example.
"""

from __future__ import annotations

import numpy as np


def probabilities(logits: np.ndarray, temperature: float, top_k: int | None = None, top_p: float | None = None,
                  min_p: float | None = None, dtype: type = np.float32) -> np.ndarray:
    """logits[B, V] -> probabilities[B, V], computed in `dtype`: the softmax of logits / temperature
    over the ids kept. Top-k keeps each id whose logit is at least the k-th largest (ties kept); min-p
    each id at least min_p times as likely as the likeliest; top-p then keeps, down the ranking, each
    id whose betters hold less than top_p of the probability. A temperature so small that
    logits / temperature overflows gives NaN, as in torch."""
    z = logits.astype(dtype) / dtype(temperature)
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.partition(z, -top_k, axis=-1)[:, -top_k:].min(-1, keepdims=True)
        z = np.where(z < kth, -np.inf, z).astype(dtype)
    if min_p:
        floor = z.max(-1, keepdims=True) + dtype(np.log(min_p))
        z = np.where(z < floor, -np.inf, z).astype(dtype)
    e = np.exp(z - z.max(-1, keepdims=True))
    probs = e / e.sum(-1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_p = np.take_along_axis(probs, order, -1)
        sorted_p[(sorted_p.cumsum(-1) - sorted_p) >= top_p] = 0  # mass ranked above already holds top_p
        probs = np.zeros_like(probs)
        np.put_along_axis(probs, order, sorted_p, -1)
        probs /= probs.sum(-1, keepdims=True)
    return probs
