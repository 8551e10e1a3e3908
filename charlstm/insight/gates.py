"""Looking inside a trained recurrent network: gate values, cell state, and what units track.

`trace` runs a text through the model one character at a time and recomputes every gate from the
trained weights (the same tensors nn.LSTM uses, gate order i, f, g, o), through model.py's one
definition of each cell's step:

    i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      input gate: how much new to write
    f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)      forget gate: how much old to keep
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)         candidate values
    o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)      output gate: how much to expose
    c_t = f_t * c_{t-1} + i_t * g_t                           cell state (the long memory)
    h_t = o_t * tanh(c_t)                                     hidden state (the output)

GRU (r, z, n) and plain RNN (h only) are traced the same way. Feature finders and saturation
statistics follow Karpathy, Johnson and Fei-Fei (2015), "Visualizing and Understanding Recurrent
Networks". Knows nothing of the terminal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..config import GATES  # the names `gates` and the playground show (imported from here by both)
from ..model import CharLSTM, gru_step, in_style, lstm_step, rnn_step
from ..tokenizer import CharTokenizer

SATURATED = (0.1, 0.9)  # a sigmoid gate below / above these is left / right saturated


@torch.no_grad()
def trace(model: CharLSTM, tokenizer: CharTokenizer, text: str, skip_unknown: bool = True) -> dict:
    """Per layer l: arrays [T, H] named 'h' and, for lstm, 'c', 'input', 'forget', 'cell', 'output'
    (gru: 'reset', 'update', 'new'). Returns {"chars": [...], "layers": [ {name: array}, ... ]}. A
    styled model is traced in the even blend of its styles (model.in_style; pass one folded to another)."""
    model = in_style(model)
    ids = tokenizer.encode(text, skip_unknown=skip_unknown)
    cfg, rnn = model.config, model.rnn
    H = cfg.hidden
    x_all = model.embed.weight[ids].float().cpu()  # T, E
    layers = []
    for l in range(cfg.layers):
        w = {n: getattr(rnn, f"{n}_l{l}").detach().float().cpu() for n in ("weight_ih", "weight_hh", "bias_ih",
                                                                           "bias_hh")}
        pre_x = x_all @ w["weight_ih"].t() + w["bias_ih"]  # T, G*H: the input term for every step at once
        h, c = torch.zeros(H), torch.zeros(H)
        rec = {k: [] for k in ("h", "c", *GATES[cfg.cell])}
        for t in range(len(ids)):
            pre_h = w["weight_hh"] @ h + w["bias_hh"]
            if cfg.cell == "lstm":
                h, c, gates = lstm_step(pre_x[t] + pre_h, c)
                rec["c"].append(c)
            elif cfg.cell == "gru":
                h, gates = gru_step(pre_x[t], pre_h, h)
            else:
                h, gates = rnn_step(pre_x[t] + pre_h), ()
            for k, v in zip(GATES[cfg.cell], gates):
                rec[k].append(v)
            rec["h"].append(h)
        layers.append({k: torch.stack(v).numpy() for k, v in rec.items() if v})
        x_all = torch.stack(rec["h"])
    return {"chars": [tokenizer.chars[i] for i in ids], "layers": layers}


# ---- features a unit may track -----------------------------------------------------------------
def inside_quotes(chars: list[str]) -> np.ndarray:
    out, inside = [], False
    for ch in chars:
        if ch == '"':
            inside = not inside
        out.append(float(inside))
    return np.array(out)


def position_in_line(chars: list[str]) -> np.ndarray:
    out, pos = [], 0
    for ch in chars:
        pos = 0 if ch == "\n" else pos + 1
        out.append(float(pos))
    return np.array(out)


def bracket_depth(chars: list[str]) -> np.ndarray:
    out, depth = [], 0
    for ch in chars:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        out.append(float(depth))
    return np.array(out)


FEATURES: dict[str, Callable[[list[str]], np.ndarray]] = {
    "quotes": inside_quotes, "line": position_in_line, "brackets": bracket_depth}


def rank_units(activations: np.ndarray, feature: np.ndarray, top: int = 5) -> list[tuple[int, float]]:
    """Units whose activation [T, H] correlates most (|Pearson r|) with the feature [T]; (unit, r)."""
    a = activations - activations.mean(0)
    f = feature - feature.mean()
    denom = np.sqrt((a ** 2).sum(0) * (f ** 2).sum())
    r = np.divide(a.T @ f, denom, out=np.zeros(a.shape[1]), where=denom > 0)
    order = np.argsort(-np.abs(r))[:top]
    return [(int(u), float(r[u])) for u in order]


def saturation(layer: dict) -> dict[str, dict[str, float]]:
    """For each sigmoid-type gate: the fraction of (time, unit) values left-saturated (< 0.1),
    right-saturated (> 0.9) and in between."""
    lo, hi = SATURATED
    out = {}
    for name, v in layer.items():
        if name in ("h", "c", "cell", "new"):
            continue  # tanh outputs and states are not gates
        left, right = float((v < lo).mean()), float((v > hi).mean())
        out[name] = {"left": left, "right": right, "between": 1.0 - left - right}
    return out


def unit_saturation(layer: dict, gate: str) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: fraction of time left- and right-saturated (the paper's scatter plot)."""
    lo, hi = SATURATED
    v = layer[gate]
    return (v < lo).mean(0), (v > hi).mean(0)
